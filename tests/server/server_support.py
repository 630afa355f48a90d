"""Helpers shared by the server tests: a valid verdict log and an API driver that acts like the browser."""

from __future__ import annotations

import uuid
from typing import Any

from quart.typing import TestClientProtocol

from unmask.contract import POLICY

PASSWORD = "correct horse battery"


def verdict(**changes: Any) -> dict[str, Any]:
    """A valid verdict log as the browser posts it; keyword arguments replace (or, as None, drop) fields.
    `uncertain` follows the probability under the default policy unless given."""
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "image_sha256": "0123456789abcdef" * 4,
        "width": 1024,
        "height": 768,
        "probability": 0.83,
        "verdict": "deepfake",
        "uncertain": False,
        "model_version": "effnet-b0.2024-06",
        "backend": "wasm",
        "inference_ms": 14.5,
        "analysed_at": "2024-06-01T12:00:00.000Z",
        "kind": "image",
        "label": "press photo",
    }
    body.update(changes)
    if "uncertain" not in changes and isinstance(body["probability"], float):
        body["uncertain"] = POLICY.uncertain(body["probability"])
    return {name: value for name, value in body.items() if value is not None}


def set_cookie(response: Any, name: str = "unmask_session") -> str:
    """The Set-Cookie header of the cookie `name` (a login also sets the known-browser cookie)."""
    return next(header for header in response.headers.getlist("Set-Cookie") if header.split("=")[0] == name)


class AuthActions:
    """Drives the API like the browser: fetch the CSRF token, then send it with each change."""

    def __init__(self, client: TestClientProtocol, scheme: str = "http") -> None:
        self.client = client
        self.scheme = scheme

    async def csrf(self) -> str:
        response = await self.client.get("/api/session", scheme=self.scheme)
        return (await response.get_json())["csrf_token"]

    async def send(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        headers = {"X-CSRF-Token": await self.csrf(), **kwargs.pop("headers", {})}
        if json is not None:
            kwargs["json"] = json
        return await self.client.open(path, method=method, headers=headers, scheme=self.scheme, **kwargs)

    async def register(self, username: str = "alice", password: str = PASSWORD) -> Any:
        return await self.send("POST", "/api/register", {"username": username, "password": password})

    async def login(self, username: str = "alice", password: str = PASSWORD, **extra: Any) -> Any:
        return await self.send("POST", "/api/login", {"username": username, "password": password, **extra})

    async def logout(self) -> Any:
        return await self.send("POST", "/api/logout")

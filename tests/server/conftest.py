"""Fixtures: a fresh instance folder, database and web root per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol

from server import create_app

PASSWORD = "correct horse battery"

WEB_FILES = {
    "index.html": "<!doctype html><title>analyser</title>",
    "history.html": "<!doctype html><title>history</title>",
    "account.html": "<!doctype html><title>account</title>",
    "login.html": "<!doctype html><title>login</title>",
    "register.html": "<!doctype html><title>register</title>",
    "sw.js": "self.addEventListener('fetch', () => {});",
    "manifest.webmanifest": '{"name": "Unmask"}',
    "css/app.css": "body { margin: 0 }",
    "js/app.js": "console.log('app');",
    "node_modules/@tensorflow/tfjs/dist/tf.min.js": "/* tf */",
    "node_modules/@tensorflow/tfjs/dist/tf.js": "/* not whitelisted */",
    "node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm": "\0asm",
    "model/model.json": '{"format": "layers-model", "weightsManifest": []}',
    "model/group1-shard1of1.bin": "\1\2\3\4",
}


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    for name, content in WEB_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


@pytest.fixture
def config(tmp_path: Path, web_root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Settings for a test app; a test may change them before using the `app` fixture."""
    for name in [name for name in os.environ if name.startswith("UNMASK_")]:
        monkeypatch.delenv(name)
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "WEB_ROOT": str(web_root),
        "MODEL_DIR": str(web_root / "model"),
        "REGISTRATION_OPEN": True,
        # Cheap argon2id so the suite runs quickly; production uses the defaults.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST_KIB": 256,
        "ARGON2_PARALLELISM": 1,
    }


@pytest.fixture
async def app(config: dict[str, Any]) -> AsyncIterator[Quart]:
    app = create_app(config)
    async with app.test_app():  # runs the start-up hooks: the database opens and migrates
        yield app


@pytest.fixture
def client(app: Quart) -> TestClientProtocol:
    return app.test_client()


def verdict(**changes: Any) -> dict[str, Any]:
    """A valid verdict log as the browser posts it; keyword arguments replace (or, as None, drop) fields."""
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
    return {name: value for name, value in body.items() if value is not None}


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


@pytest.fixture
def auth(client: TestClientProtocol) -> AuthActions:
    return AuthActions(client)

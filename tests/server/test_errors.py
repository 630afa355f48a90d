"""Errors never show internals; logs never show secrets."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from server_support import PASSWORD, AuthActions, verdict

from unmask.server import create_app


async def test_api_404_is_json(client: Any) -> None:
    response = await client.get("/api/nothing")
    assert response.status_code == 404
    assert await response.get_json() == {"error": "not found", "field": None}


async def test_page_404_is_a_small_page_with_a_way_back(client: Any) -> None:
    response = await client.get("/nothing")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    page = (await response.get_data()).decode()
    assert "<h1>404 not found</h1>" in page and '<a href="/">' in page


async def test_wrong_method_is_json_405(client: Any) -> None:
    response = await client.get("/api/login")
    assert response.status_code == 405
    assert (await response.get_json())["error"] == "method not allowed"
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("path", ["/api/boom", "/boom"])
async def test_unexpected_error_hides_traceback(config: dict[str, Any], path: str) -> None:
    app = create_app(config)

    @app.get(path)
    async def boom() -> str:
        raise RuntimeError("secret internals")

    async with app.test_app():
        response = await app.test_client().get(path)
    body = await response.get_data(as_text=True)
    assert response.status_code == 500
    assert "secret internals" not in body and "Traceback" not in body
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_logs_hold_no_password_cookie_or_image_hash(auth: AuthActions, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cookie = (await auth.register()).headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    body = verdict()
    await auth.send("POST", "/api/verdicts", body)
    await auth.send("POST", "/api/verdicts", {**body, "label": "other"})  # a 409
    await auth.logout()
    await auth.login(password="wrong-" + PASSWORD)
    await auth.login()
    logged = caplog.text
    for secret in (PASSWORD, cookie, body["image_sha256"], await auth.csrf()):
        assert secret not in logged

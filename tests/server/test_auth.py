"""Accounts and sessions through the API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from quart import Quart
from quart import session as quart_session
from server_support import PASSWORD, AuthActions, set_cookie, verdict

from unmask.server import create_app


async def session(auth: AuthActions) -> dict[str, Any]:
    return await (await auth.client.get("/api/session")).get_json()


async def test_session_logged_out(auth: AuthActions) -> None:
    body = await session(auth)
    assert body["authenticated"] is False
    assert body["username"] is None
    assert body["registration_open"] is True
    assert len(body["csrf_token"]) >= 32


async def test_register_logs_in(auth: AuthActions) -> None:
    response = await auth.register()
    assert response.status_code == 201
    assert await response.get_json() == {"username": "alice"}
    assert (await session(auth))["username"] == "alice"


async def test_register_refused_when_closed(config: dict[str, Any], app: Quart, auth: AuthActions) -> None:
    app.config["REGISTRATION_OPEN"] = False
    response = await auth.register()
    assert response.status_code == 403
    assert (await session(auth))["registration_open"] is False


async def test_registration_is_throttled_per_address(app: Quart, auth: AuthActions) -> None:
    free = app.config["THROTTLE_REGISTRATION_FREE"]
    for index in range(free):
        assert (await auth.register(f"user{index}")).status_code == 201

    response = await auth.register("one_too_many")

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "too many new accounts" in (await response.get_json())["error"]


async def test_probing_taken_usernames_counts_towards_the_throttle(app: Quart, auth: AuthActions) -> None:
    await auth.register("alice")
    await auth.logout()
    statuses = [(await auth.register("alice")).status_code for _ in range(app.config["THROTTLE_REGISTRATION_FREE"])]
    assert statuses == [409] * (app.config["THROTTLE_REGISTRATION_FREE"] - 1) + [429]


async def test_simultaneous_registrations_are_throttled(app: Quart, auth: AuthActions) -> None:
    free = app.config["THROTTLE_REGISTRATION_FREE"]
    await auth.csrf()  # the CSRF cookie first, so that every request shares it
    responses = await asyncio.gather(*(auth.register(f"user{index}") for index in range(free + 3)))
    assert sorted(response.status_code for response in responses) == [201] * free + [429] * 3


async def test_register_duplicate_username_ignores_case(auth: AuthActions) -> None:
    await auth.register("alice")
    await auth.logout()
    response = await auth.register("ALICE")
    assert response.status_code == 409
    assert (await response.get_json())["field"] == "username"


async def test_register_bad_usernames(auth: AuthActions) -> None:
    for username in ("ab", "x" * 33, "bad name", "émile", "a/b", ""):
        response = await auth.register(username)
        assert response.status_code == 422, username
        assert (await response.get_json())["field"] == "username"


async def test_register_password_messages(auth: AuthActions) -> None:
    cases = {
        "short": "at least 10",
        "x" * 1025: "at most 1024",
        " " * 12: "only spaces",
        "aaaaaaaaaaaa": "repeated",
        "abababababab": "repeated",
        "1234567890": "sequential",
        "zyxwvutsrqpo": "sequential",
        "long enough\x00password": "control characters",
        "alice-is-my-password": "username",
        "password12": "most common passwords",
        "QwertyUiop": "most common passwords",
        "1q2w3e4r5t": "most common passwords",
        "iloveyou12": "most common passwords",
    }
    for password, message in cases.items():
        response = await auth.register("alice", password)
        body = await response.get_json()
        assert response.status_code == 422
        assert body["field"] == "password" and message in body["error"]


@pytest.mark.parametrize("path", ["/api/login", "/api/register"])
async def test_lone_surrogate_in_a_password_is_malformed_json(auth: AuthActions, path: str) -> None:
    raw = b'{"username": "alice", "password": "long enough \\ud800"}'
    response = await auth.send("POST", path, None, data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "raw",
    [
        b'{"username": "al\xed\xa0\x80", "password": "long enough secret"}',  # a surrogate encoded as UTF-8
        '{"username": "alice", "password": "long enough secret"}'.encode("utf-16-le"),
    ],
)
async def test_a_body_that_is_not_utf8_is_malformed_json(auth: AuthActions, raw: bytes) -> None:
    response = await auth.send("POST", "/api/login", None, data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400


async def test_register_wrong_type(auth: AuthActions) -> None:
    response = await auth.send("POST", "/api/register", {"username": "alice", "password": 1234567890123})
    assert response.status_code == 422
    assert (await response.get_json())["field"] == "password"


async def test_login(auth: AuthActions) -> None:
    await auth.register()
    await auth.logout()
    response = await auth.login()
    assert response.status_code == 200
    assert await response.get_json() == {"username": "alice"}
    assert (await session(auth))["authenticated"] is True


async def test_login_cookie_flags(auth: AuthActions) -> None:
    await auth.register()
    await auth.logout()
    cookie = set_cookie(await auth.login())
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Max-Age" not in cookie  # without "remember" it ends with the browser session


async def test_login_remember_sets_lasting_cookie(auth: AuthActions) -> None:
    await auth.register()
    await auth.logout()
    cookie = set_cookie(await auth.login(remember=True))
    assert "Max-Age=2592000" in cookie


async def test_https_cookie_mode(config: dict[str, Any]) -> None:
    app = create_app({**config, "HTTPS_COOKIES": True})
    async with app.test_app():
        actions = AuthActions(app.test_client(), scheme="https")
        response = await actions.register()
    cookie = set_cookie(response, "__Host-unmask_session")
    assert "Secure" in cookie and "Secure" in set_cookie(response, "__Host-unmask_known_browser")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_login_wrong_password_and_unknown_user_look_the_same(auth: AuthActions) -> None:
    await auth.register()
    await auth.logout()
    wrong = await auth.login(password="wrong password!")
    unknown = await auth.login(username="nobody", password="wrong password!")
    assert wrong.status_code == unknown.status_code == 401
    assert (
        await wrong.get_json()
        == await unknown.get_json()
        == {
            "error": "invalid username or password",
            "field": None,
        }
    )


async def test_logout_ends_session(auth: AuthActions) -> None:
    await auth.register()
    response = await auth.logout()
    assert response.status_code == 200
    assert (await session(auth))["authenticated"] is False


def session_cookie(response: Any) -> str:
    return set_cookie(response).split(";")[0]


async def replayed_session(app: Quart, cookie: str) -> dict[str, Any]:
    """/api/session as seen by someone who copied the cookie and sends it on their own."""
    thief = app.test_client()
    thief.cookie_jar = None
    return await (await thief.get("/api/session", headers={"Cookie": cookie})).get_json()


async def test_copied_cookie_works_while_logged_in(app: Quart, auth: AuthActions) -> None:
    cookie = session_cookie(await auth.register())
    assert (await replayed_session(app, cookie))["authenticated"] is True


async def test_cookie_replayed_after_logout_is_refused(app: Quart, auth: AuthActions) -> None:
    cookie = session_cookie(await auth.register())
    await auth.logout()
    assert (await replayed_session(app, cookie))["authenticated"] is False


async def test_cookie_replayed_after_password_change_is_refused(app: Quart, auth: AuthActions) -> None:
    cookie = session_cookie(await auth.register())
    await auth.send("POST", "/api/password", {"current_password": PASSWORD, "new_password": "a brand new secret"})
    assert (await replayed_session(app, cookie))["authenticated"] is False


async def test_tampered_cookie_is_refused(app: Quart, auth: AuthActions) -> None:
    cookie = session_cookie(await auth.register())
    assert (await replayed_session(app, cookie[:-2] + "xx"))["authenticated"] is False


async def test_logout_ends_only_this_browsers_session(app: Quart, auth: AuthActions) -> None:
    await auth.register()
    other = AuthActions(app.test_client())
    await other.login()
    await auth.logout()
    assert (await session(auth))["authenticated"] is False
    assert (await session(other))["authenticated"] is True


async def test_each_login_gets_a_cookie_of_its_own(app: Quart, auth: AuthActions) -> None:
    first = session_cookie(await auth.register())
    await auth.csrf()
    second = session_cookie(await auth.login())
    third = session_cookie(await AuthActions(app.test_client()).login())
    assert len({first, second, third}) == 3


async def test_the_database_holds_no_usable_session_token(app: Quart, auth: AuthActions) -> None:
    cookie = session_cookie(await auth.register())
    stored = [row[0] for row in await app.extensions["unmask.db"].fetch_all("SELECT token_hash FROM sessions")]
    assert len(stored) == 1 and stored[0] not in cookie


async def test_an_expired_session_is_refused(app: Quart, auth: AuthActions) -> None:
    cookie = session_cookie(await auth.register())
    await app.extensions["unmask.db"].write("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000000Z'")
    assert (await replayed_session(app, cookie))["authenticated"] is False


async def test_password_change(auth: AuthActions) -> None:
    await auth.register()
    response = await auth.send(
        "POST", "/api/password", {"current_password": PASSWORD, "new_password": "a brand new secret"}
    )
    assert response.status_code == 200
    assert (await session(auth))["authenticated"] is True  # this browser stays logged in
    await auth.logout()
    assert (await auth.login(password=PASSWORD)).status_code == 401
    assert (await auth.login(password="a brand new secret")).status_code == 200


async def test_password_change_ends_other_sessions(app: Quart, auth: AuthActions) -> None:
    await auth.register()
    other = AuthActions(app.test_client())
    await other.login()
    await auth.send("POST", "/api/password", {"current_password": PASSWORD, "new_password": "a brand new secret"})
    assert (await session(other))["authenticated"] is False


async def test_password_change_needs_current_password(auth: AuthActions) -> None:
    await auth.register()
    response = await auth.send(
        "POST", "/api/password", {"current_password": "not my password", "new_password": "a brand new secret"}
    )
    assert response.status_code == 403
    assert (await response.get_json())["field"] == "current_password"


async def test_password_change_rejects_weak_new_password(auth: AuthActions) -> None:
    await auth.register()
    response = await auth.send("POST", "/api/password", {"current_password": PASSWORD, "new_password": "short"})
    assert response.status_code == 422
    assert (await response.get_json())["field"] == "new_password"


async def test_password_change_requires_login(auth: AuthActions) -> None:
    response = await auth.send("POST", "/api/password", {"current_password": PASSWORD, "new_password": "x" * 12})
    assert response.status_code == 401


async def test_delete_account_removes_account_and_verdicts(app: Quart, auth: AuthActions) -> None:
    await auth.register()
    assert (await auth.send("POST", "/api/verdicts", verdict())).status_code == 201
    response = await auth.send("DELETE", "/api/account", {"password": PASSWORD})
    assert response.status_code == 200
    assert (await session(auth))["authenticated"] is False
    assert (await auth.login()).status_code == 401
    database = app.extensions["unmask.db"]
    assert (await database.fetch_one("SELECT count(*) FROM verdicts"))[0] == 0


async def test_delete_account_needs_password(auth: AuthActions) -> None:
    await auth.register()
    response = await auth.send("DELETE", "/api/account", {"password": "not my password"})
    assert response.status_code == 403
    assert (await session(auth))["authenticated"] is True


async def test_session_ended_by_another_process_is_refused_at_once(app: Quart, auth: AuthActions) -> None:
    # `unmask users set-password`, or another server process, ends sessions in the database: no cache delays it.
    cookie = session_cookie(await auth.register())
    await app.extensions["unmask.db"].write("DELETE FROM sessions")
    assert (await replayed_session(app, cookie))["authenticated"] is False


async def test_a_password_reset_by_another_process_counts_at_once(app: Quart, auth: AuthActions) -> None:
    # The session cache still holds the old hash; re-authentication must not accept the old password.
    await auth.register()
    await auth.csrf()
    passwords = app.extensions["unmask.passwords"]
    await app.extensions["unmask.db"].write(
        "UPDATE users SET password_hash = ?", (await passwords.hash("reset by the admin"),)
    )
    response = await auth.send("POST", "/api/password", {"current_password": PASSWORD, "new_password": "mine again!"})
    assert response.status_code in (401, 403)


async def test_a_log_posted_by_a_removed_account_is_refused_cleanly(app: Quart, auth: AuthActions) -> None:
    await auth.register()
    await auth.csrf()
    await app.extensions["unmask.db"].write("DELETE FROM users")  # `unmask users remove`, another process
    response = await auth.send("POST", "/api/verdicts", verdict())
    assert response.status_code == 401


async def test_logging_in_to_another_account_ends_the_first_session(app: Quart, auth: AuthActions) -> None:
    first = session_cookie(await auth.register())
    await auth.csrf()
    await auth.register("bob")
    assert (await replayed_session(app, first))["authenticated"] is False


async def test_unknown_user_costs_a_password_hash(
    app: Quart, auth: AuthActions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Same work whether or not the account exists, so timing does not reveal accounts.
    passwords = app.extensions["unmask.passwords"]
    verified: list[str | None] = []
    original = passwords.verify

    async def recording_verify(password_hash: str | None, password: str) -> bool:
        verified.append(password_hash)
        return await original(password_hash, password)

    monkeypatch.setattr(passwords, "verify", recording_verify)
    await auth.login(username="nobody", password="wrong password!")
    assert verified == [None]


async def test_sql_in_credentials_is_just_text(auth: AuthActions) -> None:
    attack = "x' OR '1'='1'; DROP TABLE users; --"
    assert (await auth.register("alice'--", PASSWORD)).status_code == 422
    assert (await auth.register("alice", attack)).status_code == 201
    await auth.logout()
    assert (await auth.login("alice", "x' OR '1'='1")).status_code == 401
    assert (await auth.login("alice", attack)).status_code == 200


async def test_oversized_login_body_is_413(auth: AuthActions) -> None:
    response = await auth.login(password="x" * 10_000)
    assert response.status_code == 413
    assert (await response.get_json())["field"] is None


async def test_quart_session_is_unused(app: Quart) -> None:
    async with app.test_request_context("/"):
        with pytest.raises(RuntimeError):
            quart_session["x"] = 1


async def test_sessions_per_account_are_capped(config: dict[str, Any], auth: AuthActions) -> None:
    """A script logging in over and over (without keeping cookies) cannot pile up session rows."""
    config.update(MAX_SESSIONS_PER_ACCOUNT=3, THROTTLE_ACCOUNT_FREE_LOGINS=100)
    app = create_app(config)
    async with app.test_app():
        await AuthActions(app.test_client()).register()
        cookies = []
        for _ in range(5):
            actions = AuthActions(app.test_client())
            cookies.append(session_cookie(await actions.login()))
        count = (await app.extensions["unmask.db"].fetch_one("SELECT count(*) FROM sessions"))[0]
        newest_still_works = (await replayed_session(app, cookies[-1]))["authenticated"]
        oldest_ended = not (await replayed_session(app, cookies[0]))["authenticated"]
    assert count == 3 and newest_still_works and oldest_ended

"""Accounts and sessions: /api/session, register, login, logout, password change, account deletion."""

from __future__ import annotations

import logging
import math
import re
from datetime import timedelta

from quart import Blueprint, Quart, Response, current_app, jsonify
from quart.sessions import SessionInterface, SessionMixin
from quart.wrappers import BaseRequestWebsocket
from quart_auth import Action, AuthUser, QuartAuth, current_user, login_required, login_user, logout_user

from unmask.server import accounts
from unmask.server.db import Row, get_db
from unmask.server.errors import ApiError
from unmask.server.passwords import get_passwords, password_problem
from unmask.server.security import (
    address_key,
    csrf_token,
    get_login_throttles,
    get_registration_throttle,
    refresh_csrf_cookie,
    remember_known_browser,
)
from unmask.server.validation import boolean, read_json_object, string

logger = logging.getLogger(__name__)
blueprint = Blueprint("auth", __name__, url_prefix="/api")

INVALID_LOGIN = "invalid username or password"
SESSION_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def session_digest(auth_id: str | None) -> str | None:
    """The digest of the session token in a cookie; None when the cookie holds no well-formed token."""
    if auth_id and SESSION_TOKEN_PATTERN.fullmatch(auth_id):
        return accounts.token_digest(auth_id)
    return None


class User(AuthUser):
    """A session whose cookie id is a random token of its own (one per login, per browser).

    The database keeps the token's SHA-256 with the account; logging out deletes that one session, a
    password change or an account deletion deletes them all.
    """

    def __init__(self, auth_id: str | None, action: Action = Action.PASS) -> None:
        super().__init__(auth_id, action)
        self._row: Row | None = None
        self._loaded = False

    async def row(self) -> Row | None:
        """The account of a valid session, looked up once per request; None when logged out."""
        if not self._loaded:
            self._loaded = True
            if (digest := session_digest(self.auth_id)) is not None:
                # Read from the database on every request, never cached: a logout or a password change
                # made through any server process (or `unmask users`) counts at once everywhere.
                self._row = await accounts.session_account(get_db(), digest)
        return self._row

    @property
    async def is_authenticated(self) -> bool:
        return await self.row() is not None


async def start_session(row: Row, remember: bool = False) -> None:
    """Logs this browser in to the account with a new session of its own, ending the one it had (a
    browser holds one session: the account it was logged in to before is left)."""
    await end_session()
    lifetime = timedelta(seconds=int(current_app.config["SESSION_DURATION_S"]))
    token = await accounts.start_session(
        get_db(), row["id"], lifetime, int(current_app.config["MAX_SESSIONS_PER_ACCOUNT"])
    )
    if token is None:  # the account was deleted meanwhile
        raise ApiError(401, "login required")
    login_user(User(token), remember=remember)
    remember_known_browser(row["username"])


async def end_session() -> None:
    """Ends this browser's session (if any) and removes its cookie."""
    if (digest := session_digest(current_user.auth_id)) is not None:
        await accounts.end_session(get_db(), digest)
    logout_user()


async def current_account() -> Row:
    """The logged-in account; only for views behind @login_required."""
    row = await current_user.row()
    assert row is not None
    return row


@blueprint.get("/session")
async def session() -> Response:
    row = await current_user.row()
    response = jsonify(
        authenticated=row is not None,
        username=row["username"] if row is not None else None,
        csrf_token=csrf_token(),
        registration_open=bool(current_app.config["REGISTRATION_OPEN"]),
    )
    refresh_csrf_cookie(response)
    return response


@blueprint.post("/register")
async def register() -> tuple[Response, int]:
    if not current_app.config["REGISTRATION_OPEN"]:
        raise ApiError(403, "registration is closed")
    body = await read_json_object(required=("username", "password"))
    username, password = string(body, "username"), string(body, "password")
    if problem := accounts.username_problem(username):
        raise ApiError(422, problem, "username")
    if problem := password_problem(password, username):
        raise ApiError(422, problem, "password")
    # Every well-formed attempt counts, taken names included: one address can neither mass-create
    # accounts nor probe which usernames exist.
    if retry_after := math.ceil(await get_registration_throttle().charge(get_db(), address_key())):
        raise _throttled(retry_after, "too many new accounts from this address, try again later")
    if await accounts.find_user(get_db(), username) is not None:  # before the costly hash
        raise ApiError(409, "this username is taken", "username")
    try:
        row = await accounts.create_user(get_db(), username, await get_passwords().hash(password))
    except accounts.UsernameTaken:  # taken while the hash was computed
        raise ApiError(409, "this username is taken", "username") from None
    await start_session(row)
    logger.info("account %s registered", row["id"])
    return jsonify(username=row["username"]), 201


@blueprint.post("/login")
async def login() -> Response:
    body = await read_json_object(required=("username", "password"), optional=("remember",))
    username, password = string(body, "username"), string(body, "password")
    remember = boolean(body, "remember", default=False)
    if accounts.username_problem(username):  # no such account can exist: nothing to count or hash
        raise ApiError(401, INVALID_LOGIN)
    throttles = get_login_throttles()
    if retry_after := await throttles.charge(get_db(), username, login=True):
        raise _throttled(retry_after, "too many logins to this account, try again later")
    row = await accounts.find_user(get_db(), username)
    # The same argon2 work happens whether or not the account exists (a dummy hash stands in).
    if not await get_passwords().verify(row["password_hash"] if row else None, password):
        await throttles.failure(get_db(), username)
        logger.info("failed login")  # neither the name (often a mistyped password) nor the password
        raise ApiError(401, INVALID_LOGIN)
    assert row is not None
    await throttles.success(get_db(), username)
    await _upgrade_hash(row, password)
    await start_session(row, remember=remember)
    return jsonify(username=row["username"])


@blueprint.post("/logout")
async def logout() -> Response:
    await end_session()
    return jsonify(authenticated=False)


@blueprint.post("/password")
@login_required
async def change_password() -> Response:
    body = await read_json_object(required=("current_password", "new_password"))
    current, new = string(body, "current_password"), string(body, "new_password")
    row = await current_account()
    await _check_password(row, current, "current_password")
    if problem := password_problem(new, row["username"]):
        raise ApiError(422, problem, "new_password")
    if new == current:
        raise ApiError(422, "the new password must differ from the current one", "new_password")
    changed = await accounts.set_password(get_db(), row["id"], await get_passwords().hash(new))
    if not changed:  # the account was deleted meanwhile
        raise ApiError(401, "login required")
    # Every session ends; this browser goes on in a new one.
    await start_session(row)
    return jsonify(username=row["username"])


@blueprint.delete("/account")
@login_required
async def delete_account() -> Response:
    body = await read_json_object(required=("password",))
    row = await current_account()
    await _check_password(row, string(body, "password"), "password")
    await accounts.delete_user(get_db(), row["id"])
    logout_user()
    logger.info("account %s deleted", row["id"])
    return jsonify(deleted=True)


async def _check_password(row: Row, password: str, field: str) -> None:
    """Re-authentication inside a session, throttled like logins: a stolen cookie is not a free oracle."""
    throttles = get_login_throttles()
    if retry_after := await throttles.charge(get_db(), row["username"]):
        raise _throttled(retry_after, "too many wrong passwords, try again later", field)
    if not await get_passwords().verify(row["password_hash"], password):
        raise ApiError(403, "the password is wrong", field)
    await throttles.success(get_db(), row["username"])


def _throttled(retry_after: int, message: str, field: str | None = None) -> ApiError:
    return ApiError(429, message, field, headers={"Retry-After": str(retry_after)})


async def _upgrade_hash(row: Row, password: str) -> None:
    passwords = get_passwords()
    if passwords.needs_rehash(row["password_hash"]):
        await accounts.rehash_password(get_db(), row["id"], await passwords.hash(password))


class NoSessions(SessionInterface):
    """Quart's own cookie session is never used: the quart-auth cookie and the CSRF cookie carry all state.

    Opening it on every request would cost a signature check for nothing, and a stray session cookie
    could never be issued.
    """

    async def open_session(self, app: Quart, request: BaseRequestWebsocket) -> None:
        return None  # Quart then uses its NullSession, which refuses writes

    async def save_session(self, app: Quart, session: SessionMixin, response: Response | None) -> None:
        return None


def init_app(app: Quart) -> None:
    app.session_interface = NoSessions()
    QuartAuth(app, user_class=User)

"""Account storage shared by the HTTP API and the `unmask users` commands."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from unmask.server.db import Database, IntegrityError, Row, format_time, utc_now

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,32}")
# What a session check and a login need of an account.
ACCOUNT_COLUMNS = "id, username, password_hash"
SESSION_TOKEN_BYTES = 32


class UsernameTaken(Exception):
    pass


def username_problem(username: str) -> str | None:
    if not USERNAME_PATTERN.fullmatch(username):
        return "username must be 3 to 32 characters: letters, digits, '_', '.' or '-'"
    return None


def token_digest(token: str) -> str:
    """What the database keeps of a session token: a copy of the database opens no session."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(db: Database, username: str, password_hash: str) -> Row:
    try:
        rows = await db.write_returning(
            f"INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?) RETURNING {ACCOUNT_COLUMNS}",
            (username, password_hash, utc_now()),
        )
    except IntegrityError as error:
        raise UsernameTaken(username) from error
    return rows[0]


async def find_user(db: Database, username: str) -> Row | None:
    return await db.fetch_one(f"SELECT {ACCOUNT_COLUMNS} FROM users WHERE username = ?", (username,))


async def start_session(db: Database, user_id: int, lifetime: timedelta, max_sessions: int) -> str | None:
    """A new session of the account (one per login, per browser); its token, or None if the account is gone.
    Beyond `max_sessions` the oldest end, so repeated logins cannot pile up rows."""
    now = datetime.now(UTC)
    await db.write("DELETE FROM sessions WHERE expires_at <= ?", (format_time(now),))
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    try:
        await db.write(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (token_digest(token), user_id, format_time(now), format_time(now + lifetime)),
        )
    except IntegrityError:  # the account was deleted meanwhile
        return None
    await db.write(
        "DELETE FROM sessions WHERE user_id = ? AND token_hash NOT IN"
        " (SELECT token_hash FROM sessions WHERE user_id = ? ORDER BY created_at DESC LIMIT ?)",
        (user_id, user_id, max_sessions),
    )
    return token


async def session_account(db: Database, digest: str) -> Row | None:
    """The account of an unexpired session, by its token's digest."""
    return await db.fetch_one(
        "SELECT u.id, u.username, u.password_hash FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash = ? AND s.expires_at > ?",
        (digest, utc_now()),
    )


async def end_session(db: Database, digest: str) -> None:
    await db.write("DELETE FROM sessions WHERE token_hash = ?", (digest,))


async def end_all_sessions(db: Database, user_id: int) -> None:
    await db.write("DELETE FROM sessions WHERE user_id = ?", (user_id,))


async def set_password(db: Database, user_id: int, password_hash: str) -> bool:
    """Store a new hash and end every session of the account; False if there is no such account."""
    # Sessions first: should the second statement never run, the account is only safer.
    await end_all_sessions(db, user_id)
    return await db.write("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)) > 0


async def rehash_password(db: Database, user_id: int, password_hash: str) -> None:
    """Upgrade the stored hash to current parameters without ending sessions."""
    await db.write("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))


async def delete_user(db: Database, user_id: int) -> bool:
    # ON DELETE CASCADE removes the account's sessions and verdicts in the same statement.
    return await db.write("DELETE FROM users WHERE id = ?", (user_id,)) > 0


async def list_users(db: Database) -> list[Row]:
    return await db.fetch_all(
        "SELECT u.username, u.created_at, count(v.id) AS verdicts FROM users u"
        " LEFT JOIN verdicts v ON v.user_id = u.id GROUP BY u.id ORDER BY u.username"
    )

"""Account storage shared by the HTTP API and the `unmask users` commands."""

from __future__ import annotations

import re
import secrets
import sqlite3

from server.db import Database, utc_now

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,32}")
# What a session check and a login need of an account.
ACCOUNT_COLUMNS = "id, username, password_hash, session_key"


class UsernameTaken(Exception):
    pass


def username_problem(username: str) -> str | None:
    if not USERNAME_PATTERN.fullmatch(username):
        return "username must be 3 to 32 characters: letters, digits, '_', '.' or '-'"
    return None


def new_session_key() -> str:
    return secrets.token_urlsafe(24)


async def create_user(db: Database, username: str, password_hash: str) -> sqlite3.Row:
    try:
        rows = await db.write_returning(
            "INSERT INTO users (username, password_hash, session_key, created_at) VALUES (?, ?, ?, ?)"
            " RETURNING id, username, session_key",
            (username, password_hash, new_session_key(), utc_now()),
        )
    except sqlite3.IntegrityError as error:
        raise UsernameTaken(username) from error
    return rows[0]


async def find_user(db: Database, username: str) -> sqlite3.Row | None:
    return await db.fetch_one(f"SELECT {ACCOUNT_COLUMNS} FROM users WHERE username = ?", (username,))


async def user_by_id(db: Database, user_id: int) -> sqlite3.Row | None:
    return await db.fetch_one(f"SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = ?", (user_id,))


async def set_password(db: Database, user_id: int, password_hash: str) -> str | None:
    """Store a new hash and end every session of the account; return the new session key."""
    session_key = new_session_key()
    changed = await db.write(
        "UPDATE users SET password_hash = ?, session_key = ? WHERE id = ?", (password_hash, session_key, user_id)
    )
    return session_key if changed else None


async def rehash_password(db: Database, user_id: int, password_hash: str) -> None:
    """Upgrade the stored hash to current parameters without ending sessions."""
    await db.write("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))


async def end_all_sessions(db: Database, user_id: int) -> None:
    await db.write("UPDATE users SET session_key = ? WHERE id = ?", (new_session_key(), user_id))


async def delete_user(db: Database, user_id: int) -> bool:
    # ON DELETE CASCADE removes the account's verdicts in the same statement.
    return await db.write("DELETE FROM users WHERE id = ?", (user_id,)) > 0


async def list_users(db: Database) -> list[sqlite3.Row]:
    return await db.fetch_all(
        "SELECT u.username, u.created_at, count(v.id) AS verdicts FROM users u"
        " LEFT JOIN verdicts v ON v.user_id = u.id GROUP BY u.id ORDER BY u.username"
    )

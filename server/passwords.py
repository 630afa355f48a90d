"""Password rules and argon2id hashing, off the event loop."""

from __future__ import annotations

import asyncio
import functools
import secrets
import unicodedata
from collections.abc import Mapping
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from quart import Quart, current_app

MIN_LENGTH = 10
MIN_DISTINCT_CHARACTERS = 4
MAX_LENGTH = 1024


def password_problem(password: str, username: str) -> str | None:
    """Why this password is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"password must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"password must be at most {MAX_LENGTH} characters long"
    if not password.strip():
        return "password must not be only spaces"
    if any(unicodedata.category(character) == "Cc" for character in password):
        return "password must not contain control characters"
    if len(set(password.casefold())) < MIN_DISTINCT_CHARACTERS or _is_sequence(password.casefold()):
        return "password must not be a repeated or sequential pattern (like aaaa... or 1234...)"
    if username and username.casefold() in password.casefold():
        return "password must not contain the username"
    if password.casefold() in _common_passwords():
        return "password is one of the most common passwords, which are guessed first: choose another"
    return None


@functools.cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of leaked password sets (zxcvbn's list), loaded on first use."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def _is_sequence(text: str) -> bool:
    """Every character one step up (or every one step down) from the one before: abcd..., 9876...,
    also across the keyboard's 9 to 0 (1234567890)."""
    steps = {_step(before, after) for before, after in zip(text, text[1:], strict=False)}
    return steps in ({1}, {-1})


def _step(before: str, after: str) -> int:
    if {before, after} == {"9", "0"}:
        return 1 if before == "9" else -1
    return ord(after) - ord(before)


class Passwords:
    """argon2id hashing; each hash runs in a worker thread because it takes tens of milliseconds."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._hasher = PasswordHasher(
            time_cost=int(config["ARGON2_TIME_COST"]),
            memory_cost=int(config["ARGON2_MEMORY_COST_KIB"]),
            parallelism=int(config["ARGON2_PARALLELISM"]),
            type=Type.ID,
        )
        # Verified against when the account does not exist, so both cases take the same time.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Constant-time check (inside argon2); a None hash burns the same time and fails."""
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash or self._dummy_hash, password) and (
                password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def init_app(app: Quart) -> None:
    app.extensions["unmask.passwords"] = Passwords(app.config)


def get_passwords() -> Passwords:
    return current_app.extensions["unmask.passwords"]

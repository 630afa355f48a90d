"""SQLite storage through aiosqlite: connections, pragmas and forward migrations."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiosqlite
from quart import Quart, current_app

# Each migration is a list of statements applied in one transaction; append, never edit.
MIGRATIONS: list[list[str]] = [
    [
        """
        CREATE TABLE users (
            -- AUTOINCREMENT: an id is never reused, so nothing of a deleted account attaches to a new one
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            -- Part of every session cookie; replacing it logs out every session of the account.
            session_key TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE verdicts (
            id TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            image_sha256 TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            probability REAL NOT NULL,
            verdict TEXT NOT NULL CHECK (verdict IN ('real', 'deepfake')),
            uncertain INTEGER NOT NULL CHECK (uncertain IN (0, 1)),
            model_version TEXT NOT NULL,
            backend TEXT NOT NULL,
            inference_ms REAL NOT NULL,
            analysed_at TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('image', 'video')),
            label TEXT,
            file_name TEXT,
            video_frames INTEGER,
            video_duration_s REAL,
            video_mean_probability REAL,
            video_max_probability REAL,
            video_share_flagged REAL,
            received_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX verdicts_by_user_time ON verdicts (user_id, analysed_at DESC, id)",
    ],
    [
        # One row per login (per browser) instead of one key per account: each cookie is its own, logging
        # out ends only that browser's session, and a password change still ends them all.
        """
        CREATE TABLE sessions (
            -- SHA-256 of the cookie's token: a copy of the database opens no session
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX sessions_by_user ON sessions (user_id)",
        "ALTER TABLE users DROP COLUMN session_key",
    ],
    [
        # How many faces the picture's verdict was judged on (0: the whole picture, at the user's request);
        # NULL for logs from before faces were found, or sent by an older page.
        "ALTER TABLE verdicts ADD COLUMN faces INTEGER CHECK (faces IS NULL OR faces >= 0)",
    ],
    [
        # Each account's number of verdict logs, kept by triggers: the per-account limit and the history's
        # total read it instead of counting a long history on every request.
        "ALTER TABLE users ADD COLUMN verdict_count INTEGER NOT NULL DEFAULT 0",
        "UPDATE users SET verdict_count = (SELECT count(*) FROM verdicts WHERE verdicts.user_id = users.id)",
        """
        CREATE TRIGGER verdicts_count_insert AFTER INSERT ON verdicts BEGIN
            UPDATE users SET verdict_count = verdict_count + 1 WHERE id = new.user_id;
        END
        """,
        """
        CREATE TRIGGER verdicts_count_delete AFTER DELETE ON verdicts BEGIN
            UPDATE users SET verdict_count = verdict_count - 1 WHERE id = old.user_id;
        END
        """,
    ],
    [
        # What the file said about itself, read on the device; NULL for logs made before (unknown).
        """
        ALTER TABLE verdicts ADD COLUMN provenance TEXT CHECK (provenance IN (
            'none', 'camera', 'edited', 'declared_ai', 'credential_valid', 'credential_invalid'
        ))
        """,
    ],
]


class Database:
    """One connection for writes and a few for reads.

    Every write is a single autocommit statement, so writes sharing a connection never interleave
    inside a transaction; in WAL mode the readers see each commit at once and never wait on a writer.
    Each read takes whichever reader is free, so one slow read (a long history) never holds up the
    others, session checks included.
    """

    def __init__(self, writer: aiosqlite.Connection, readers: list[aiosqlite.Connection]) -> None:
        self._writer = writer
        self._readers = readers
        self._idle_readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for reader in readers:
            self._idle_readers.put_nowait(reader)
        self._group_inserts: dict[tuple[str, tuple[str, ...], str], GroupInsert] = {}

    @classmethod
    async def open(cls, path: str, synchronous: str = "FULL", readers: int = 4) -> Database:
        if synchronous.upper() not in {"FULL", "EXTRA", "NORMAL"}:
            raise ValueError(f"unsupported DATABASE_SYNCHRONOUS {synchronous!r}")
        # Created owner-only: it holds password hashes and what people checked (SQLite gives the
        # -wal and -shm files the same mode).
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        writer = await _connect(path, synchronous)
        opened: list[aiosqlite.Connection] = []
        try:
            await writer.execute("PRAGMA journal_mode = WAL")
            await migrate(writer)
            for _ in range(readers):
                opened.append(await _connect(path, synchronous))
                await opened[-1].execute("PRAGMA query_only = ON")
        except BaseException:
            for connection in (*opened, writer):
                await connection.close()
            raise
        return cls(writer, opened)

    async def close(self) -> None:
        for reader in self._readers:
            await reader.close()
        await self._writer.close()

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        reader = await self._idle_readers.get()
        try:
            return list(await reader.execute_fetchall(sql, params))
        finally:
            self._idle_readers.put_nowait(reader)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; return the number of rows it changed."""
        cursor = await self._writer.execute(sql, params)
        try:
            return cursor.rowcount
        finally:
            await cursor.close()

    def group_insert(self, table: str, columns: tuple[str, ...], key: str) -> GroupInsert:
        """The batching inserter for rows of these columns (one per kind of row, kept with the connection)."""
        signature = (table, columns, key)
        if signature not in self._group_inserts:
            self._group_inserts[signature] = GroupInsert(self, table, columns, key)
        return self._group_inserts[signature]

    async def write_returning(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        # Fetching every row finishes the statement, which is what commits it in autocommit mode.
        return list(await self._writer.execute_fetchall(sql, params))


class GroupInsert:
    """Inserts that arrive while a commit is in progress go together in the next one.

    Each batch is one multi-row INSERT: one transaction and one fsync for many rows, which is what
    lets a durable (synchronous=FULL) log take hundreds of posts a second. A caller's await returns
    only after the commit that holds its row, so an acknowledged row is on disk.
    """

    MAX_BATCH = 200  # rows x columns stays far below SQLite's limit on bound parameters

    def __init__(self, db: Database, table: str, columns: Sequence[str], key: str) -> None:
        self._db = db
        self._sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {{values}}"
            f" ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
        )
        self._placeholders = f"({', '.join('?' * len(columns))})"
        self._columns = tuple(columns)
        self._key = key
        self._pending: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def insert(self, row: dict[str, Any]) -> bool:
        """Store `row`; False when a row with the same key already exists (nothing is changed)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[: self.MAX_BATCH]
            del self._pending[: self.MAX_BATCH]
            try:
                inserted = await self._insert([row for row, _ in batch])
            except Exception as error:
                # One bad row (say, its account was deleted meanwhile) must not fail the others.
                if len(batch) == 1:
                    _settle(batch[0][1], error=error)
                else:
                    for row, future in batch:
                        await self._settle_alone(row, future)
                continue
            for row, future in batch:
                key = row[self._key]
                # Of two rows with one key in a batch only the first was inserted.
                _settle(future, key in inserted)
                inserted.discard(key)

    async def _settle_alone(self, row: dict[str, Any], future: asyncio.Future[bool]) -> None:
        try:
            _settle(future, bool(await self._insert([row])))
        except Exception as error:
            _settle(future, error=error)

    async def _insert(self, rows: list[dict[str, Any]]) -> set[Any]:
        sql = self._sql.format(values=", ".join([self._placeholders] * len(rows)))
        params = [row[column] for row in rows for column in self._columns]
        return {returned[0] for returned in await self._db.write_returning(sql, params)}


def _settle(future: asyncio.Future[bool], result: bool = False, error: Exception | None = None) -> None:
    """Answer a waiting caller, unless it is gone: a client that disconnects has its handler (and the
    await on this future) cancelled, and the rows of the others in its batch must still be answered."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def _connect(path: str, synchronous: str) -> aiosqlite.Connection:
    connection = await aiosqlite.connect(path, isolation_level=None)  # autocommit; we BEGIN explicitly
    connection.row_factory = sqlite3.Row
    await connection.execute("PRAGMA foreign_keys = ON")
    await connection.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    await connection.execute("PRAGMA busy_timeout = 5000")
    return connection


async def migrate(connection: aiosqlite.Connection) -> None:
    """Apply the migrations this database lacks."""
    await connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    # IMMEDIATE takes the write lock first, so two processes starting together cannot both migrate.
    await connection.execute("BEGIN IMMEDIATE")
    try:
        rows = await connection.execute_fetchall("SELECT coalesce(max(version), 0) FROM schema_version")
        version = int(list(rows)[0][0])
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"the database has schema version {version}, newer than this program knows ({len(MIGRATIONS)})"
            )
        for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in statements:
                await connection.execute(statement)
            await connection.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (number, utc_now())
            )
        await connection.execute("COMMIT")
    except BaseException:
        await connection.execute("ROLLBACK")
        raise


def utc_now() -> str:
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    """A fixed-width UTC form, so text order in SQLite is time order."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def init_app(app: Quart) -> None:
    @app.before_serving
    async def open_database() -> None:
        app.extensions["unmask.db"] = await Database.open(
            app.config["DATABASE"], app.config["DATABASE_SYNCHRONOUS"], int(app.config["DATABASE_READERS"])
        )

    @app.after_serving
    async def close_database() -> None:
        database: Database | None = app.extensions.pop("unmask.db", None)
        if database is not None:
            await database.close()


def get_db() -> Database:
    return current_app.extensions["unmask.db"]

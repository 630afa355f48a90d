"""The SQLite engine (the default): one file, one connection for durable writes, a few for reads."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import aiosqlite

from unmask.server.db import SQLITE, Database, DatabaseError, IntegrityError, Row, pending_migrations, utc_now

SYNCHRONOUS_MODES = {"FULL", "EXTRA", "NORMAL"}


@contextlib.contextmanager
def engine_errors() -> Iterator[None]:
    """sqlite3's errors as the engine-neutral ones."""
    try:
        yield
    except sqlite3.IntegrityError as error:
        raise IntegrityError(str(error)) from error
    except sqlite3.Error as error:
        raise DatabaseError(str(error)) from error


class SqliteDatabase(Database):
    """Every durable write is a single autocommit statement on one connection, so writes sharing it never
    interleave inside a transaction; in WAL mode the readers see each commit at once and never wait on a
    writer, and other server processes on the same file see it too. Non-durable writes (throttle counters)
    go through a second connection that does not wait for the disk (synchronous=NORMAL: still never a
    corrupt file)."""

    dialect = SQLITE

    def __init__(
        self, writer: aiosqlite.Connection, relaxed_writer: aiosqlite.Connection, readers: list[aiosqlite.Connection]
    ) -> None:
        super().__init__()
        self._writer = writer
        self._relaxed_writer = relaxed_writer
        self._readers = readers
        self._idle_readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for reader in readers:
            self._idle_readers.put_nowait(reader)

    @classmethod
    async def connect(cls, path: str, synchronous: str = "FULL", readers: int = 4) -> SqliteDatabase:
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"unsupported DATABASE_SYNCHRONOUS {synchronous!r}")
        # Created owner-only: it holds password hashes and what people checked (SQLite gives the
        # -wal and -shm files the same mode).
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        opened: list[aiosqlite.Connection] = []
        try:
            with engine_errors():
                writer = await _connect(path, synchronous)
                opened.append(writer)
                await writer.execute("PRAGMA journal_mode = WAL")
                await _migrate(writer)
                opened.append(await _connect(path, "NORMAL"))
                for _ in range(readers):
                    opened.append(await _connect(path, synchronous))
                    await opened[-1].execute("PRAGMA query_only = ON")
        except BaseException:
            for connection in opened:
                await connection.close()
            raise
        return cls(opened[0], opened[1], opened[2:])

    async def close(self) -> None:
        for connection in (*self._readers, self._relaxed_writer, self._writer):
            await connection.close()

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        reader = await self._idle_readers.get()
        try:
            with engine_errors():
                return list(await reader.execute_fetchall(sql, params))
        finally:
            self._idle_readers.put_nowait(reader)

    async def write(self, sql: str, params: Sequence[Any] = (), durable: bool = True) -> int:
        with engine_errors():
            cursor = await (self._writer if durable else self._relaxed_writer).execute(sql, params)
            try:
                return cursor.rowcount
            finally:
                await cursor.close()

    async def write_returning(self, sql: str, params: Sequence[Any] = (), durable: bool = True) -> list[Row]:
        # Fetching every row finishes the statement, which is what commits it in autocommit mode.
        with engine_errors():
            return list(await (self._writer if durable else self._relaxed_writer).execute_fetchall(sql, params))


async def _connect(path: str, synchronous: str) -> aiosqlite.Connection:
    connection = await aiosqlite.connect(path, isolation_level=None)  # autocommit; we BEGIN explicitly
    connection.row_factory = sqlite3.Row
    await connection.execute("PRAGMA foreign_keys = ON")
    await connection.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    # Other server processes write the same file: a writer waits its turn instead of failing.
    await connection.execute("PRAGMA busy_timeout = 5000")
    return connection


async def _migrate(connection: aiosqlite.Connection) -> None:
    """Apply the migrations this database lacks."""
    await connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    # IMMEDIATE takes the write lock first, so two processes starting together cannot both migrate.
    await connection.execute("BEGIN IMMEDIATE")
    try:
        rows = await connection.execute_fetchall("SELECT coalesce(max(version), 0) FROM schema_version")
        for number, statements in pending_migrations(int(list(rows)[0][0]), SQLITE):
            for statement in statements:
                await connection.execute(statement)
            await connection.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (number, utc_now())
            )
        await connection.execute("COMMIT")
    except BaseException:
        await connection.execute("ROLLBACK")
        raise

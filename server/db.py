"""Storage: the engine-neutral database interface, forward migrations and grouped inserts.

Two engines stand behind one interface: SQLite (a file, the default; `db_sqlite`) and PostgreSQL (a
`postgresql://` URL, for several server processes or machines; `db_postgres`). Every query is written
once, with `?` placeholders, in the SQL both understand; the PostgreSQL engine numbers the placeholders.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from quart import Quart, current_app

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


class DatabaseError(Exception):
    """The engine failed (cannot connect, a statement is wrong): the same type whichever engine it is."""


class IntegrityError(DatabaseError):
    """A constraint refused the statement: a taken unique value, a missing referenced row, a CHECK."""


class Row(Protocol):
    """A result row of either engine: by column name or position."""

    def __getitem__(self, key: int | str) -> Any: ...

    def keys(self) -> Any: ...


class Dialects(dict[str, str]):
    """A migration statement that differs between the engines: its text for each (a missing one: none)."""


# Each migration is a list of statements applied in one transaction; append, never edit. A statement is
# one text for both engines, or `Dialects`. PostgreSQL spells three column forms of the shared text its
# own way (POSTGRESQL_SPELLINGS), so that each table is written once.
MIGRATIONS: list[list[str | Dialects]] = [
    [
        # Usernames compare without case in both engines (SQLite's NOCASE; an ICU collation here).
        Dialects(
            postgresql="CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
        ),
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
        Dialects(
            sqlite="""
        CREATE TRIGGER verdicts_count_insert AFTER INSERT ON verdicts BEGIN
            UPDATE users SET verdict_count = verdict_count + 1 WHERE id = new.user_id;
        END
        """
        ),
        Dialects(
            sqlite="""
        CREATE TRIGGER verdicts_count_delete AFTER DELETE ON verdicts BEGIN
            UPDATE users SET verdict_count = verdict_count - 1 WHERE id = old.user_id;
        END
        """
        ),
        # PostgreSQL: once per statement, so that a batch of inserts updates each account's row once. The
        # rows are locked in id order first: two processes' batches of the same accounts cannot deadlock.
        *(
            Dialects(
                postgresql=f"""
            CREATE FUNCTION verdicts_count_{event}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM 1 FROM users WHERE id IN (SELECT user_id FROM changed) ORDER BY id FOR NO KEY UPDATE;
                UPDATE users SET verdict_count = verdict_count {sign} counted.logs
                    FROM (SELECT user_id, count(*) AS logs FROM changed GROUP BY user_id) AS counted
                    WHERE users.id = counted.user_id;
                RETURN NULL;
            END
            $$
            """
            )
            for event, sign in (("insert", "+"), ("delete", "-"))
        ),
        *(
            Dialects(
                postgresql=f"""
            CREATE TRIGGER verdicts_count_{event} AFTER {event.upper()} ON verdicts
                REFERENCING {table} TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION verdicts_count_{event}()
            """
            )
            for event, table in (("insert", "NEW"), ("delete", "OLD"))
        ),
    ],
    [
        # What the file said about itself, read on the device; NULL for logs made before (unknown).
        """
        ALTER TABLE verdicts ADD COLUMN provenance TEXT CHECK (provenance IN (
            'none', 'camera', 'edited', 'declared_ai', 'credential_valid', 'credential_invalid'
        ))
        """,
    ],
    [
        # Login, registration and posting throttles, shared by every server process: for a Throttle the
        # attempts counted and the time of the last; for a RateLimit the tokens left and when they were.
        """
        CREATE TABLE throttle_state (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            amount REAL NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (scope, key)
        )
        """,
    ],
]
# PostgreSQL's words for three column forms of the shared migration text.
POSTGRESQL_SPELLINGS = (
    ("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
    ("TEXT NOT NULL UNIQUE COLLATE NOCASE", "TEXT COLLATE nocase NOT NULL UNIQUE"),
    (" REAL", " DOUBLE PRECISION"),  # SQLite's REAL is 8 bytes; PostgreSQL's is 4
)


def migrations(dialect: str) -> list[list[str]]:
    """The migrations as this engine runs them (the same versions, in the same order, for both)."""
    return [
        [text for statement in statements if (text := _spelled(statement, dialect)) is not None]
        for statements in MIGRATIONS
    ]


def _spelled(statement: str | Dialects, dialect: str) -> str | None:
    if isinstance(statement, Dialects):
        return statement.get(dialect)
    if dialect == POSTGRESQL:
        for sqlite_form, postgresql_form in POSTGRESQL_SPELLINGS:
            statement = statement.replace(sqlite_form, postgresql_form)
    return statement


def pending_migrations(version: int, dialect: str) -> list[tuple[int, list[str]]]:
    """The (version, statements) a database at `version` lacks; refuses a database newer than this program."""
    if version > len(MIGRATIONS):
        raise DatabaseError(
            f"the database has schema version {version}, newer than this program knows ({len(MIGRATIONS)})"
        )
    return list(enumerate(migrations(dialect)[version:], start=version + 1))


def is_postgresql(target: str) -> bool:
    return target.startswith(POSTGRESQL_SCHEMES)


class Database(ABC):
    """The engine-neutral interface the server uses; `Database.open` picks the engine from the target.

    Reads take a connection of their own, so one slow read never holds up the others. Every write is a
    single statement in its own transaction. `durable=False` writes (throttle counters) may be lost in
    a power cut, which only forgets a few attempts, and skip the wait for the disk.
    """

    dialect: str

    @staticmethod
    async def open(target: str, synchronous: str = "FULL", readers: int = 4) -> Database:
        """A SQLite file path, or a postgresql:// URL; migrated to the current schema."""
        if is_postgresql(target):
            from unmask.server.db_postgres import PostgresDatabase

            return await PostgresDatabase.connect(target, readers)
        from unmask.server.db_sqlite import SqliteDatabase

        return await SqliteDatabase.connect(target, synchronous, readers)

    def __init__(self) -> None:
        self._group_inserts: dict[tuple[str, tuple[str, ...], str], GroupInsert] = {}

    @abstractmethod
    async def close(self) -> None:
        """Close every connection."""

    @abstractmethod
    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of one read-only statement."""

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    async def write(self, sql: str, params: Sequence[Any] = (), durable: bool = True) -> int:
        """Run one statement in its own transaction; return the number of rows it changed."""

    @abstractmethod
    async def write_returning(self, sql: str, params: Sequence[Any] = (), durable: bool = True) -> list[Row]:
        """Run one statement with a RETURNING clause in its own transaction; return its rows."""

    def group_insert(self, table: str, columns: tuple[str, ...], key: str) -> GroupInsert:
        """The batching inserter for rows of these columns (one per kind of row, kept with the connection)."""
        signature = (table, columns, key)
        if signature not in self._group_inserts:
            self._group_inserts[signature] = GroupInsert(self, table, columns, key)
        return self._group_inserts[signature]


class GroupInsert:
    """Inserts that arrive while a commit is in progress go together in the next one.

    Each batch is one multi-row INSERT: one transaction and one fsync for many rows, which is what
    lets a durable log (SQLite synchronous=FULL, PostgreSQL's synchronous commit) take hundreds of posts
    a second. A caller's await returns only after the commit that holds its row, so an acknowledged row
    is on disk.
    """

    MAX_BATCH = 200  # rows x columns stays far below either engine's limit on bound parameters

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


def utc_now() -> str:
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    """A fixed-width UTC form, so text order is time order (times are stored as this text in both engines)."""
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


def shown_target(target: str) -> str:
    """The database as it may be printed: a PostgreSQL URL without its password."""
    if not is_postgresql(target):
        return target
    parts = urllib.parse.urlsplit(target)
    if parts.password is None:
        return target
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()

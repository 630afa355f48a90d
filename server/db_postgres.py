"""The PostgreSQL engine (`--database postgresql://...`): for several server processes or machines.

Needs the `postgres` extra (asyncpg). Queries arrive with `?` placeholders and are sent with PostgreSQL's
`$1, $2, ...`; none of the project's SQL has a `?` inside a string literal.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from unmask import UserFacingError
from unmask.server.db import POSTGRESQL, Database, DatabaseError, IntegrityError, Row, pending_migrations, utc_now

try:
    import asyncpg
except ModuleNotFoundError:  # the plain install: SQLite only
    asyncpg = None

PLACEHOLDER = re.compile(r"\?")
# Any constant: the transaction-scoped lock that lets one process at a time migrate.
MIGRATION_LOCK = 7_406_110_553
# Connections beside the readers: the grouped inserts and the other writes.
WRITER_CONNECTIONS = 2


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """`?` placeholders as `$1, $2, ...`."""
    counter = iter(range(1, 1_000_000))
    return PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


@contextlib.asynccontextmanager
async def engine_errors() -> AsyncIterator[None]:
    """asyncpg's errors as the engine-neutral ones."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as error:
        raise IntegrityError(str(error)) from error
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise DatabaseError(str(error)) from error


class PostgresDatabase(Database):
    """A pool of connections for everything, and a small one whose commits do not wait for the disk
    (synchronous_commit off: throttle counters; a crash may forget the last few, never corrupt)."""

    dialect = POSTGRESQL

    def __init__(self, pool: asyncpg.Pool, relaxed_pool: asyncpg.Pool) -> None:
        super().__init__()
        self._pool = pool
        self._relaxed_pool = relaxed_pool

    @classmethod
    async def connect(cls, url: str, readers: int = 4) -> PostgresDatabase:
        if asyncpg is None:
            raise UserFacingError(
                "a PostgreSQL database needs the postgres extra: pip install 'unmask[postgres]' (or -e '.[postgres]')"
            )
        pools: list[asyncpg.Pool] = []
        try:
            pools.append(await asyncpg.create_pool(url, min_size=1, max_size=readers + WRITER_CONNECTIONS))
            async with engine_errors(), pools[0].acquire() as connection:
                await _migrate(connection)
            pools.append(
                await asyncpg.create_pool(
                    url, min_size=1, max_size=WRITER_CONNECTIONS, server_settings={"synchronous_commit": "off"}
                )
            )
        except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            for pool in pools:
                await pool.close()
            # asyncpg's message for a refused connection names every address it tried: the first says it.
            raise DatabaseError(str(error).splitlines()[0] or type(error).__name__) from error
        except BaseException:
            for pool in pools:
                await pool.close()
            raise
        return cls(*pools)

    async def close(self) -> None:
        await self._relaxed_pool.close()
        await self._pool.close()

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with engine_errors():
            return await self._pool.fetch(numbered(sql), *params)

    async def write(self, sql: str, params: Sequence[Any] = (), durable: bool = True) -> int:
        async with engine_errors():
            status = await (self._pool if durable else self._relaxed_pool).execute(numbered(sql), *params)
        # "DELETE 3", "UPDATE 1", "INSERT 0 1": the count is last.
        return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0

    async def write_returning(self, sql: str, params: Sequence[Any] = (), durable: bool = True) -> list[Row]:
        async with engine_errors():
            return await (self._pool if durable else self._relaxed_pool).fetch(numbered(sql), *params)


async def _migrate(connection: asyncpg.Connection) -> None:
    """Apply the migrations this database lacks, in one transaction, one process at a time."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        version = await connection.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        for number, statements in pending_migrations(int(version), POSTGRESQL):
            for statement in statements:
                await connection.execute(statement)
            await connection.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)", number, utc_now()
            )

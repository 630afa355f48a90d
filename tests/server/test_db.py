"""Database set-up: pragmas, migrations, restarts."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from server_support import AuthActions, verdict

from unmask.server import create_app
from unmask.server.db import MIGRATIONS, SQLITE, Database, DatabaseError, IntegrityError, migrations


@pytest.mark.sqlite_only
async def test_default_database_is_in_instance_folder(app: Quart, config: dict[str, Any]) -> None:
    assert app.config["DATABASE"] == str(Path(config["INSTANCE_PATH"]) / "unmask.sqlite3")
    assert Path(app.config["DATABASE"]).is_file()


async def test_database_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    await (await Database.open(str(path))).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_migration_from_empty_database(database: Database) -> None:
    versions = await database.fetch_all("SELECT version FROM schema_version ORDER BY version")
    assert [row[0] for row in versions] == list(range(1, len(MIGRATIONS) + 1))


async def test_pragmas(tmp_path: Path) -> None:
    database = await Database.open(str(tmp_path / "db.sqlite3"))
    journal = await database.fetch_one("PRAGMA journal_mode")
    foreign_keys = await database.fetch_one("PRAGMA foreign_keys")
    synchronous = await database.fetch_one("PRAGMA synchronous")
    await database.close()
    assert journal[0] == "wal" and foreign_keys[0] == 1 and synchronous[0] == 2  # 2 = FULL


async def test_history_index_exists(tmp_path: Path) -> None:
    database = await Database.open(str(tmp_path / "db.sqlite3"))
    plan = await database.fetch_all(
        "EXPLAIN QUERY PLAN SELECT * FROM verdicts WHERE user_id = 1 ORDER BY analysed_at DESC LIMIT 50"
    )
    await database.close()
    assert any("verdicts_by_user_time" in row[3] for row in plan)


async def test_restart_keeps_rows(config: dict[str, Any]) -> None:
    body = verdict()
    for _ in range(2):
        app = create_app(config)
        async with app.test_app():
            actions = AuthActions(app.test_client())
            if (await actions.register()).status_code == 409:  # second start: the account exists
                await actions.login()
            await actions.send("POST", "/api/verdicts", body)
            items = (await (await actions.client.get("/api/verdicts")).get_json())["items"]
    assert [item["id"] for item in items] == [body["id"]]


async def test_newer_schema_is_refused(database_target: str) -> None:
    database = await Database.open(database_target)
    await database.write("INSERT INTO schema_version VALUES (?, 'future')", (len(MIGRATIONS) + 1,))
    await database.close()
    with pytest.raises(DatabaseError, match="newer"):
        await Database.open(database_target)


async def test_foreign_keys_cascade_on_account_delete(database: Database) -> None:
    await database.write("INSERT INTO users (username, password_hash, created_at) VALUES ('a', 'h', 't')")
    columns = verdict()
    columns.pop("label")
    await database.write(
        "INSERT INTO verdicts (id, user_id, image_sha256, width, height, probability, verdict, uncertain,"
        " model_version, backend, inference_ms, analysed_at, kind, received_at)"
        " VALUES (?, 1, ?, 1, 1, 0.9, 'deepfake', 0, 'v', 'b', 1, 't', 'image', 't')",
        (columns["id"], columns["image_sha256"]),
    )
    await database.write("DELETE FROM users")
    remaining = await database.fetch_one("SELECT count(*) FROM verdicts")
    assert remaining[0] == 0


async def test_reader_connection_cannot_write(tmp_path: Path) -> None:
    database = await Database.open(str(tmp_path / "db.sqlite3"))
    with pytest.raises(DatabaseError, match="readonly"):
        await database.fetch_all("DELETE FROM users")
    await database.close()


async def test_group_insert_reports_existing_keys(database: Database) -> None:
    await database.write("CREATE TABLE items (key TEXT PRIMARY KEY, value INTEGER)")
    inserter = database.group_insert("items", ("key", "value"), "key")
    results = await asyncio.gather(*[inserter.insert({"key": key, "value": 1}) for key in ("a", "b", "a")])
    again = await inserter.insert({"key": "b", "value": 2})
    rows = await database.fetch_all("SELECT key, value FROM items ORDER BY key")
    assert results == [True, True, False] and again is False
    assert [tuple(row) for row in rows] == [("a", 1), ("b", 1)]


@pytest.mark.parametrize(
    ("bad_value", "error"),
    # a constraint; text no engine can encode (refused by Python's codec or by asyncpg)
    [(-1, IntegrityError), ("\ud800", (UnicodeEncodeError, DatabaseError))],
)
async def test_group_insert_isolates_a_failing_row(
    database: Database, bad_value: Any, error: type | tuple[type, ...]
) -> None:
    await database.write("CREATE TABLE items (key TEXT PRIMARY KEY, value TEXT CHECK (value <> '-1'))")
    inserter = database.group_insert("items", ("key", "value"), "key")
    first, bad, last = await asyncio.gather(
        inserter.insert({"key": "first", "value": "1"}),
        inserter.insert({"key": "bad", "value": str(bad_value)}),
        inserter.insert({"key": "last", "value": "2"}),
        return_exceptions=True,
    )
    stored = await database.fetch_all("SELECT key FROM items ORDER BY key")
    assert first is True and last is True and isinstance(bad, error)
    assert [row[0] for row in stored] == ["first", "last"]


def database_at_version(path: Path, version: int, user_columns: str, user_values: str) -> None:
    """A database file as an older release left it: the first `version` migrations, one account, one log."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        for number, statements in enumerate(migrations(SQLITE)[:version], start=1):
            for statement in statements:
                connection.execute(statement)
            connection.execute("INSERT INTO schema_version VALUES (?, 't')", (number,))
        connection.execute(f"INSERT INTO users ({user_columns}) VALUES ({user_values})")
        connection.execute(
            "INSERT INTO verdicts (id, user_id, image_sha256, width, height, probability, verdict, uncertain,"
            " model_version, backend, inference_ms, analysed_at, kind, received_at)"
            " VALUES ('v', 1, 's', 1, 1, 0.9, 'deepfake', 0, 'm', 'b', 1, 't', 'image', 't')"
        )
    connection.close()


async def test_a_version_1_database_keeps_its_accounts_and_logs(tmp_path: Path) -> None:
    # Version 2 moved sessions from a key per account to a table of their own: nothing stored is lost.
    path = tmp_path / "db.sqlite3"
    database_at_version(path, 1, "username, password_hash, session_key, created_at", "'a', 'h', 'k', 't'")
    database = await Database.open(str(path))
    users = await database.fetch_all("SELECT * FROM users")
    verdicts = await database.fetch_all("SELECT probability, faces FROM verdicts")
    await database.close()
    assert [(row["username"], row["password_hash"]) for row in users] == [("a", "h")]
    assert "session_key" not in users[0].keys()  # noqa: SIM118 (`in` a Row looks at its values, not its names)
    # Version 3 added the faces judged: unknown (NULL) for the logs made before.
    assert [tuple(row) for row in verdicts] == [(0.9, None)]
    assert users[0]["verdict_count"] == 1  # counted by the migration that added it


async def test_group_insert_answers_everyone_when_callers_are_cancelled(database: Database) -> None:
    """A client that disconnects mid-post has its handler cancelled; the other posts of its batch are
    still answered and stored, and the inserter goes on working."""
    await database.write("CREATE TABLE items (key TEXT PRIMARY KEY, value INTEGER)")
    inserter = database.group_insert("items", ("key", "value"), "key")
    tasks = [asyncio.create_task(inserter.insert({"key": str(number), "value": 1})) for number in range(60)]
    await asyncio.sleep(0)  # every insert is waiting, the first batch is being written
    for task in tasks[1::3]:
        task.cancel()
    honest = [task for number, task in enumerate(tasks) if number % 3 != 1]
    answers = await asyncio.wait_for(asyncio.gather(*honest), timeout=5)
    after = await asyncio.wait_for(inserter.insert({"key": "after", "value": 1}), timeout=5)
    stored = {row[0] for row in await database.fetch_all("SELECT key FROM items")}
    assert all(answers) and after is True
    assert {str(number) for number in range(60) if number % 3 != 1} | {"after"} <= stored


async def test_a_version_2_database_gains_provenance_and_keeps_its_logs(tmp_path: Path) -> None:
    # Version 5 added verdicts.provenance: older logs stay, with provenance NULL (unknown).
    path = tmp_path / "db.sqlite3"
    database_at_version(path, 2, "username, password_hash, created_at", "'a', 'h', 't'")
    database = await Database.open(str(path))
    stored = await database.fetch_all("SELECT id, provenance FROM verdicts")
    try:
        with pytest.raises(IntegrityError):
            await database.write("UPDATE verdicts SET provenance = 'forged'")
    finally:
        await database.close()
    assert [(row["id"], row["provenance"]) for row in stored] == [("v", None)]


async def table_columns(database: Database) -> dict[str, list[tuple[str, str, bool]]]:
    """Each table's columns as (name, type, nullable), in the engine-neutral words."""
    if database.dialect == SQLITE:
        tables = [
            row[0]
            for row in await database.fetch_all(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
            )
        ]
        # A SQLite primary key that is not an INTEGER one accepts NULL (a legacy quirk); the server never sends one.
        return {
            table: [
                (
                    row["name"],
                    row["type"].replace("REAL", "double precision").lower(),
                    not row["notnull"] and not row["pk"],
                )
                for row in await database.fetch_all(f"SELECT * FROM pragma_table_info('{table}')")
            ]
            for table in tables
        }
    rows = await database.fetch_all(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    )
    columns: dict[str, list[tuple[str, str, bool]]] = {}
    for row in rows:
        columns.setdefault(row["table_name"], []).append((row[1], row[2], row[3] == "YES"))
    return columns


async def test_both_engines_have_the_same_tables_and_columns(tmp_path: Path, postgres_cluster: Any) -> None:
    sqlite = await Database.open(str(tmp_path / "db.sqlite3"))
    postgresql = await Database.open(postgres_cluster.new_database())
    try:
        assert await table_columns(sqlite) == await table_columns(postgresql)
    finally:
        await sqlite.close()
        await postgresql.close()


async def test_usernames_are_unique_without_regard_to_case(database: Database) -> None:
    await database.write("INSERT INTO users (username, password_hash, created_at) VALUES ('Alice', 'h', 't')")
    with pytest.raises(IntegrityError):
        await database.write("INSERT INTO users (username, password_hash, created_at) VALUES ('aLICE', 'h', 't')")
    assert (await database.fetch_one("SELECT username FROM users WHERE username = 'ALICE'"))[0] == "Alice"


async def test_two_processes_batching_the_same_accounts_keep_exact_counts(database_target: str) -> None:
    """Two server processes (two Database objects) insert batches holding the same accounts in opposite
    orders at once: every row is stored, no batch deadlocks, and each account's kept count is exact."""
    first, second = await Database.open(database_target), await Database.open(database_target)
    try:
        for name in ("a", "b"):
            await first.write("INSERT INTO users (username, password_hash, created_at) VALUES (?, 'h', 't')", (name,))
        ids = {row["username"]: row["id"] for row in await first.fetch_all("SELECT id, username FROM users")}
        columns = (
            "id",
            "user_id",
            "image_sha256",
            "width",
            "height",
            "probability",
            "verdict",
            "uncertain",
            "model_version",
            "backend",
            "inference_ms",
            "analysed_at",
            "kind",
            "received_at",
        )

        def row(user: str) -> dict[str, Any]:
            values = (
                str(uuid.uuid4()),
                ids[user],
                "ab" * 32,
                1,
                1,
                0.1,
                "real",
                0,
                "m",
                "wasm",
                1.0,
                "t",
                "image",
                "t",
            )
            return dict(zip(columns, values, strict=True))

        inserts = [
            database.group_insert("verdicts", columns, "id").insert(row(user))
            for _ in range(40)
            for database, users in ((first, "ab"), (second, "ba"))
            for user in users
        ]
        stored = await asyncio.wait_for(asyncio.gather(*inserts), timeout=60)
        counts = {row["username"]: row["verdict_count"] for row in await first.fetch_all("SELECT * FROM users")}
    finally:
        await first.close()
        await second.close()
    assert all(stored)
    assert counts == {"a": 80, "b": 80}

"""`unmask serve` options and `unmask users ...`."""

from __future__ import annotations

import argparse
import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from server_support import PASSWORD, AuthActions

from unmask import UserFacingError
from unmask.server import commands, create_app


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="unmask")
    commands.register(root.add_subparsers(dest="command", required=True))
    return root


@pytest.fixture
def run(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `unmask ARGS` against the test instance, with `stdin` as standard input."""
    monkeypatch.setattr("unmask.server.commands._config", lambda args: config)

    def invoke(*argv: str, stdin: str = "") -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        args = parser().parse_args(argv)
        return args.handler(args)

    return invoke


def test_serve_options() -> None:
    args = parser().parse_args(
        [
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "9000",
            "--database",
            "d.sqlite3",
            "--https-cookies",
            "--open-registration",
        ]
    )
    assert (args.host, args.port, args.database, args.https_cookies, args.registration_open) == (
        "0.0.0.0",
        9000,
        "d.sqlite3",
        True,
        True,
    )
    assert args.handler is commands.serve_command


def test_serve_defaults_leave_config_alone() -> None:
    args = parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 8000)
    assert commands._config(args) == {}


def test_serve_help_describes_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["serve", "--help"])
    help_text = capsys.readouterr().out
    for option in (
        "--host",
        "--port",
        "--database",
        "--instance",
        "--https-cookies",
        "--open-registration",
        "--closed-registration",
    ):
        assert option in help_text


def test_users_add_and_list(run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("users", "add", "carol", stdin=PASSWORD + "\nignored\n") == 0
    assert run("users", "list") == 0
    assert "carol\tcreated" in capsys.readouterr().out


def login_status(config: dict[str, Any], username: str, password: str) -> int:
    async def login() -> int:
        app = create_app(config)
        async with app.test_app():
            return (await AuthActions(app.test_client()).login(username, password)).status_code

    return asyncio.run(login())


def test_added_user_can_log_in(run: Any, config: dict[str, Any]) -> None:
    run("users", "add", "carol", stdin=PASSWORD + "\n")
    assert login_status(config, "carol", PASSWORD) == 200


def test_users_add_refuses_short_password(run: Any) -> None:
    with pytest.raises(UserFacingError, match="at least 10"):
        run("users", "add", "carol", stdin="short\n")


def test_users_add_refuses_empty_stdin(run: Any) -> None:
    with pytest.raises(UserFacingError, match="standard input"):
        run("users", "add", "carol", stdin="")


def test_users_add_refuses_duplicate(run: Any) -> None:
    run("users", "add", "carol", stdin=PASSWORD + "\n")
    with pytest.raises(UserFacingError, match="already exists"):
        run("users", "add", "carol", stdin=PASSWORD + "\n")


def test_users_add_refuses_bad_name(run: Any) -> None:
    with pytest.raises(UserFacingError, match="username"):
        run("users", "add", "a b", stdin=PASSWORD + "\n")


def test_users_remove(run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run("users", "add", "carol", stdin=PASSWORD + "\n")
    assert run("users", "remove", "carol") == 0
    capsys.readouterr()
    run("users", "list")
    assert "carol" not in capsys.readouterr().out


def test_users_remove_unknown(run: Any) -> None:
    with pytest.raises(UserFacingError, match="no account"):
        run("users", "remove", "nobody")


def test_users_set_password(run: Any, config: dict[str, Any]) -> None:
    run("users", "add", "carol", stdin=PASSWORD + "\n")
    run("users", "set-password", "carol", stdin="another long secret\n")
    assert login_status(config, "carol", PASSWORD) == 401
    assert login_status(config, "carol", "another long secret") == 200


def test_database_option_is_used(tmp_path: Path) -> None:
    args = parser().parse_args(["users", "list", "--instance", str(tmp_path), "--database", str(tmp_path / "x.db")])
    assert commands._config(args) == {"INSTANCE_PATH": str(tmp_path), "DATABASE": str(tmp_path / "x.db")}


def test_an_unreachable_postgresql_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://unmask:hunter2-secret@/unmask?host={tmp_path / 'no-server-here'}"
    with pytest.raises(UserFacingError) as refused:
        commands._check_database({"DATABASE": url, "DATABASE_SYNCHRONOUS": "FULL"})
    assert str(refused.value).startswith("cannot open the database postgresql://unmask:***@/unmask")
    assert "hunter2" not in str(refused.value)


def test_workers_must_be_a_positive_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["serve", "--workers", "0"])
    assert "--workers: must be 1 to 64" in capsys.readouterr().err

"""Two `unmask serve` processes on one database behave as one server: throttles, sessions and stored
logs are in the database, whichever process a request reaches. On both engines; and a server killed
with SIGKILL loses no acknowledged log."""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import PASSWORD, REPO_ROOT, SHIPPED_MODEL, USERNAME, Server, running_server

from unmask.server.db import POSTGRESQL, SQLITE

pytestmark = pytest.mark.slow

KILL_AFTER_ACKNOWLEDGED = 150
POSTERS = 8


class Browser:
    """Cookies and the CSRF token, as a browser keeps them, for requests to any of the servers."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        self.token = ""

    def request(self, url: str, method: str, path: str, body: object | None = None) -> tuple[int, dict]:
        address = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        headers = {
            "Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items()),
            "X-CSRF-Token": self.token,
            "Content-Type": "application/json",
        }
        try:
            connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read() or b"{}")
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";")[0].partition("=")
            self.cookies[name] = value
        return response.status, answer

    def start(self, url: str) -> None:
        self.token = self.request(url, "GET", "/api/session")[1]["csrf_token"]

    def login(self, url: str, password: str = PASSWORD) -> int:
        return self.request(url, "POST", "/api/login", {"username": USERNAME, "password": password})[0]

    def authenticated(self, url: str) -> bool:
        return self.request(url, "GET", "/api/session")[1]["authenticated"]


@pytest.fixture(params=[SQLITE, POSTGRESQL])
def instance(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """An instance folder whose config names the engine's database (the SQLite default, or a fresh
    PostgreSQL database); strict login throttling."""
    folder = tmp_path / "instance"
    folder.mkdir()
    settings = ["THROTTLE_ACCOUNT_FREE_FAILURES = 3", "THROTTLE_BASE_DELAY_S = 30.0"]
    if request.param == POSTGRESQL:
        settings.append(f"DATABASE = {request.getfixturevalue('postgres_cluster').new_database()!r}")
    (folder / "config.py").write_text("\n".join(settings) + "\n")
    return folder


@contextlib.contextmanager
def two_servers(instance: Path) -> Iterator[tuple[Server, Server]]:
    with running_server(instance, SHIPPED_MODEL) as first, running_server(instance, SHIPPED_MODEL) as second:
        yield first, second


def test_guesses_spread_over_two_processes_are_throttled_as_one(instance: Path) -> None:
    with two_servers(instance) as servers:
        guesser = Browser()
        guesser.start(servers[0].url)
        statuses = [guesser.login(servers[number % 2].url, "wrong password!") for number in range(6)]
    assert statuses == [401, 401, 401, 429, 429, 429]


def test_a_logout_on_one_process_is_seen_by_the_other_at_once(instance: Path) -> None:
    with two_servers(instance) as (first, second):
        browser = Browser()
        browser.start(first.url)
        assert browser.login(first.url) == 200
        assert browser.authenticated(second.url)
        kept_cookies = dict(browser.cookies)
        browser.request(first.url, "POST", "/api/logout")
        browser.cookies = kept_cookies  # the old cookie, replayed: its session has ended everywhere
        assert not browser.authenticated(second.url)


def verdict_body(verdict_id: str) -> dict:
    return {
        "id": verdict_id,
        "image_sha256": "cd" * 32,
        "width": 10,
        "height": 10,
        "probability": 0.2,
        "verdict": "real",
        "uncertain": False,
        "model_version": "kill-test",
        "backend": "wasm",
        "inference_ms": 1.0,
        "analysed_at": "2024-06-01T12:00:00Z",
        "kind": "image",
    }


def stored_ids(instance: Path) -> set[str]:
    """The ids of the logs in the instance's database, read by `unmask users`' sibling: a fresh process."""
    script = (
        "import asyncio, sys\n"
        "from unmask.server import create_app\n"
        "from unmask.server.db import Database\n"
        "async def main():\n"
        "    database = await Database.open(create_app({'INSTANCE_PATH': sys.argv[1]}).config['DATABASE'])\n"
        "    print('\\n'.join(row[0] for row in await database.fetch_all('SELECT id FROM verdicts')))\n"
        "    await database.close()\n"
        "asyncio.run(main())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(instance)], cwd=REPO_ROOT, check=True, capture_output=True, text=True
    )
    return set(result.stdout.split())


def test_a_killed_server_loses_no_acknowledged_log(instance: Path) -> None:
    acknowledged: list[str] = []
    with running_server(instance, SHIPPED_MODEL) as server:
        browser = Browser()
        browser.start(server.url)
        assert browser.login(server.url) == 200

        def post_until_gone() -> None:
            while True:
                verdict_id = str(uuid.uuid4())
                try:
                    status, _ = browser.request(server.url, "POST", "/api/verdicts", verdict_body(verdict_id))
                except OSError:  # killed: this post's answer never came
                    return
                if status == 201:
                    acknowledged.append(verdict_id)

        with concurrent.futures.ThreadPoolExecutor(POSTERS) as pool:
            posters = [pool.submit(post_until_gone) for _ in range(POSTERS)]
            deadline = time.monotonic() + 60
            while len(acknowledged) < KILL_AFTER_ACKNOWLEDGED and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(server.pid, signal.SIGKILL)  # in the middle of the posts' grouped commits
            for poster in posters:
                poster.result(timeout=60)
    assert len(acknowledged) >= KILL_AFTER_ACKNOWLEDGED
    assert set(acknowledged) <= stored_ids(instance)


def test_workers_share_one_port_and_one_throttle(instance: Path) -> None:
    with running_server(instance, SHIPPED_MODEL, serve_options=("--workers", "2")) as server:
        workers = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        guesser = Browser()
        guesser.start(server.url)
        # Each request on a connection of its own: the kernel hands them to either process.
        statuses = [guesser.login(server.url, "wrong password!") for _ in range(8)]
    assert len(workers) == 2
    assert statuses == [401, 401, 401] + [429] * 5

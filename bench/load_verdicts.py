"""Load test: many logged-in clients posting and reading verdict logs against `unmask serve`.

Starts the real server (hypercorn) on loopback with a fresh instance folder, registers and logs in
--users accounts, then runs --clients concurrent keep-alive connections for --duration seconds
(a --read-share of them reading history, the rest posting new verdicts). It prints requests per second,
p50/p99 latency and errors, then stops the server (or kills it with SIGKILL, --kill) and checks that every
acknowledged verdict is in the database exactly once.

With --mixed, the load of a busy day with a few difficult users: the --clients posters go on while
--heavy-users accounts hold --heavy-rows logs each (written into the database before the load), --readers
clients page through every user's history (heavy ones included) and one exports a heavy history again and
again, and --aborters clients post and hang up before the answer (closed tabs, phones losing the network).
It reports requests left unanswered (none may be), lost rows (none may be) and the history list's p95 for
every user (target: under 300 ms each).

Standard library only: a minimal HTTP/1.1 client on asyncio streams. The server listens on loopback only;
the per-account post rate limit is lifted (the bench posts far faster than any person).

    .venv/bin/python bench/load_verdicts.py --users 20 --clients 32 --duration 15
    .venv/bin/python bench/load_verdicts.py --kill     # acknowledged rows survive kill -9
    .venv/bin/python bench/load_verdicts.py --mixed    # posters, long-history readers, exports, hang-ups
    .venv/bin/python bench/load_verdicts.py --compare  # SQLite and PostgreSQL, 1 and 2 server processes

--compare runs the plain load four times (a throw-away PostgreSQL cluster, durable like SQLite's FULL, is
started and removed for it; Debian's `postgresql` package provides it) and prints one table. Server CPU
counts the `unmask serve` processes only, not PostgreSQL's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from unmask.contract import POLICY, VerdictLog

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the throw-away PostgreSQL cluster the tests use

from postgres_cluster import running_cluster  # noqa: E402

from unmask.server.db import Database, is_postgresql  # noqa: E402

ENGINES_AND_WORKERS = [("sqlite", 1), ("sqlite", 2), ("postgresql", 1), ("postgresql", 2)]
SEED_CHUNK = 500
HOST = "127.0.0.1"
PASSWORD = "load test password 1"


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Browser:
    """One logged-in user's cookies and CSRF token, shared by that user's connections."""

    cookies: dict[str, str] = field(default_factory=dict)
    csrf_token: str = ""
    username: str = ""

    def remember(self, reply: Reply) -> None:
        for name, value in reply.headers:
            if name == "set-cookie":
                pair = value.split(";", 1)[0]
                cookie_name, _, cookie_value = pair.partition("=")
                if "max-age=0" in value.lower() or "expires=thu, 01 jan 1970" in value.lower():
                    self.cookies.pop(cookie_name, None)
                else:
                    self.cookies[cookie_name] = cookie_value


class Connection:
    """A keep-alive HTTP/1.1 connection (Content-Length and chunked bodies)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, browser: Browser, body: object | None = None) -> Reply:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}", f"Content-Length: {len(payload)}"]
        if body is not None:
            lines.append("Content-Type: application/json")
        if method != "GET":
            lines.append(f"X-CSRF-Token: {browser.csrf_token}")
        if browser.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in browser.cookies.items()))
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        try:
            reply = await self._read_reply()
        except BaseException:
            await self.close()
            raise
        browser.remember(reply)
        return reply

    async def _read_reply(self) -> Reply:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = [
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in header_lines if line)
        ]
        values = dict(headers)
        if values.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += await self.reader.readexactly(size + 2)
                del body[-2:]
            await self.reader.readuntil(b"\r\n")
        else:
            body = await self.reader.readexactly(int(values.get("content-length", 0)))
        if values.get("connection", "").lower() == "close":
            await self.close()
        return Reply(int(status_line.split()[1]), headers, bytes(body))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


ANSWER_TIMEOUT_S = 15.0  # a request without an answer this long counts as unanswered
EXPORT_TIMEOUT_S = 120.0  # ... an export (streamed: it starts at once, 100k logs take a while to send)
HEAVY_PAGES = 50
HANG_UP_INTERVAL_S = 0.5  # each hang-up client: about two aborted posts a second  # readers page through the newest HEAVY_PAGES * 50 logs of each history


@dataclass
class Results:
    post_latencies: list[float] = field(default_factory=list)
    read_latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    acknowledged: dict[str, tuple[Browser, dict]] = field(default_factory=dict)  # id -> (owner, body)
    history_latencies: dict[str, list[float]] = field(default_factory=dict)  # by username
    export_latencies: list[float] = field(default_factory=list)
    unanswered: int = 0
    hung_up: int = 0


def new_verdict() -> VerdictLog:
    probability = random.random()
    return {
        "id": str(uuid.uuid4()),
        "image_sha256": os.urandom(32).hex(),
        "width": random.randint(64, 8000),
        "height": random.randint(64, 8000),
        "probability": probability,
        "verdict": POLICY.verdict(probability),
        "uncertain": POLICY.uncertain(probability),
        "model_version": "bench-1",
        "backend": "wasm",
        "inference_ms": random.uniform(5, 40),
        "analysed_at": datetime.now(UTC).isoformat(),
        "kind": "image",
    }


async def log_in(port: int, number: int) -> Browser:
    browser, connection = Browser(), Connection(port)
    browser.username = f"bench{number:04d}"
    browser.csrf_token = (await connection.request("GET", "/api/session", browser)).json()["csrf_token"]
    username = f"bench{number:04d}"
    credentials = {"username": username, "password": PASSWORD}
    reply = await connection.request("POST", "/api/register", browser, credentials)
    assert reply.status == 201, (reply.status, reply.body)
    reply = await connection.request("POST", "/api/login", browser, credentials)
    assert reply.status == 200, (reply.status, reply.body)
    await connection.close()
    return browser


async def client(port: int, browser: Browser, deadline: float, read_share: float, results: Results) -> None:
    connection = Connection(port)
    while time.perf_counter() < deadline:
        reading = random.random() < read_share
        body = None if reading else new_verdict()
        started = time.perf_counter()
        try:
            if reading:
                reply = await answered(connection, results, "GET", "/api/verdicts?per_page=20", browser)
            else:
                reply = await answered(connection, results, "POST", "/api/verdicts", browser, body)
            if reply is None:
                continue
        except (OSError, asyncio.IncompleteReadError) as error:
            results.errors[type(error).__name__] += 1
            await asyncio.sleep(0.01)  # the server went away (--kill); don't spin
            continue
        elapsed = time.perf_counter() - started
        results.statuses[f"{'GET' if reading else 'POST'} {reply.status}"] += 1
        if reading:
            results.read_latencies.append(elapsed)
        else:
            results.post_latencies.append(elapsed)
            if reply.status == 201:
                results.acknowledged[body["id"]] = (browser, body)
            else:
                results.errors[f"POST {reply.status}"] += 1
    await connection.close()


async def answered(
    connection: Connection, results: Results, *request: object, timeout: float = ANSWER_TIMEOUT_S
) -> Reply | None:
    """The whole reply, or None (counted as unanswered) when it does not come within `timeout` seconds."""
    try:
        return await asyncio.wait_for(connection.request(*request), timeout)  # type: ignore[arg-type]
    except TimeoutError:
        results.unanswered += 1
        await connection.close()
        return None


async def history_reader(port: int, browsers: list[Browser], deadline: float, results: Results) -> None:
    """Pages through the histories of all users, the long ones included."""
    connection = Connection(port)
    while time.perf_counter() < deadline:
        browser = random.choice(browsers)
        started = time.perf_counter()
        path = f"/api/verdicts?per_page=50&page={random.randint(1, HEAVY_PAGES)}"
        reply = await answered(connection, results, "GET", path, browser)
        if reply is None:
            continue
        results.statuses[f"GET history {reply.status}"] += 1
        results.history_latencies.setdefault(browser.username, []).append(time.perf_counter() - started)
        if reply.status != 200:
            results.errors[f"GET history {reply.status}"] += 1
    await connection.close()


async def exporter(port: int, browser: Browser, deadline: float, results: Results) -> None:
    """Exports one long history again and again (a 100k-row CSV is about 20 MB)."""
    connection = Connection(port)
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        reply = await answered(
            connection, results, "GET", "/api/verdicts/export?format=csv", browser, timeout=EXPORT_TIMEOUT_S
        )
        if reply is None:
            continue
        results.statuses[f"GET export {reply.status}"] += 1
        results.export_latencies.append(time.perf_counter() - started)
        if reply.status != 200:
            results.errors[f"GET export {reply.status}"] += 1
    await connection.close()


async def hang_up_poster(port: int, browser: Browser, deadline: float, results: Results) -> None:
    """Posts a verdict about every HANG_UP_INTERVAL_S and disconnects before the answer, at a random moment
    of the save."""
    while time.perf_counter() < deadline:
        connection = Connection(port)
        try:
            await asyncio.wait_for(
                connection.request("POST", "/api/verdicts", browser, new_verdict()), random.uniform(0.0005, 0.02)
            )
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            results.hung_up += 1
        await connection.close()
        await asyncio.sleep(HANG_UP_INTERVAL_S)


async def seed_history(database_target: str, username: str, rows: int) -> None:
    """`rows` logs for `username`, written straight into the database (spread over the last year)."""
    now = time.time()
    database = await Database.open(database_target)
    try:
        user_id = (await database.fetch_one("SELECT id FROM users WHERE username = ?", (username,)))[0]
        for start in range(0, rows, SEED_CHUNK):
            count = min(SEED_CHUNK, rows - start)
            await database.write(
                "INSERT INTO verdicts (id, user_id, image_sha256, width, height, probability, verdict, uncertain,"
                " model_version, backend, inference_ms, analysed_at, kind, received_at) VALUES "
                + ", ".join(["(?, ?, ?, 640, 480, 0.3, 'real', 0, 'bench-1', 'wasm', 12.5, ?, 'image', ?)"] * count),
                [
                    value
                    for _ in range(count)
                    for value in (
                        str(uuid.uuid4()),
                        user_id,
                        os.urandom(32).hex(),
                        datetime.fromtimestamp(now - random.uniform(0, 365 * 86400), UTC)
                        .isoformat(timespec="microseconds")
                        .replace("+00:00", "Z"),
                        datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
                    )
                ],
            )
    finally:
        await database.close()


async def stored_rows(database_target: str) -> tuple[Counter[str], str]:
    """How many times each verdict id is stored, and SQLite's integrity check ("ok"; PostgreSQL: "n/a")."""
    database = await Database.open(database_target)
    try:
        stored = Counter(row[0] for row in await database.fetch_all("SELECT id FROM verdicts"))
        integrity = "n/a" if is_postgresql(database_target) else (await database.fetch_one("PRAGMA integrity_check"))[0]
    finally:
        await database.close()
    return stored, integrity


async def retry_sample(port: int, results: Results, count: int) -> Counter[int]:
    """Re-post acknowledged verdicts as a browser would after a lost response: each must be a 200."""
    statuses: Counter[int] = Counter()
    connection = Connection(port)
    for verdict_id in random.sample(list(results.acknowledged), min(count, len(results.acknowledged))):
        owner, body = results.acknowledged[verdict_id]
        statuses[(await connection.request("POST", "/api/verdicts", owner, body)).status] += 1
    await connection.close()
    return statuses


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its worker processes: on a shared machine, the cost per
    request is steadier than rates."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


async def wait_until_up(port: int, process: subprocess.Popen) -> None:
    for _ in range(200):
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            reply = await Connection(port).request("GET", "/api/session", Browser())
            if reply.status == 200:
                return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not start")


async def measure(args: argparse.Namespace, database: str | None, workers: int) -> tuple[int, dict]:
    """One load run against a fresh server (on `database`, default: a new SQLite file; `workers`
    processes); the exit status (1: lost, duplicated, failed or unanswered requests) and the summary."""
    instance = Path(tempfile.mkdtemp(prefix="unmask-bench-"))
    database = database or str(instance / "unmask.sqlite3")
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("UNMASK_")}
    # All simulated users register from loopback; in real life they come from many addresses.
    environment["UNMASK_THROTTLE_REGISTRATION_FREE"] = str(args.users + args.heavy_users)
    environment["UNMASK_VERDICT_POSTS_PER_MINUTE"] = "1000000"
    environment["UNMASK_MAX_VERDICTS_PER_ACCOUNT"] = str(max(100_000, args.heavy_rows))
    command = [
        sys.executable,
        "-m",
        "unmask.cli",
        "serve",
        "--instance",
        str(instance),
        "--port",
        str(port),
        "--open-registration",
        "--database",
        database,
        "--workers",
        str(workers),
    ]
    with open(instance / "server.log", "wb") as log:  # the server process keeps its own descriptor
        process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        await wait_until_up(port, process)
        started = time.perf_counter()
        browsers = [await log_in(port, number) for number in range(args.users)]
        print(f"registered and logged in {args.users} users in {time.perf_counter() - started:.1f} s")

        heavy = [await log_in(port, args.users + number) for number in range(args.heavy_users if args.mixed else 0)]
        for browser in heavy:
            started = time.perf_counter()
            await seed_history(database, browser.username, args.heavy_rows)
            print(f"wrote {args.heavy_rows} logs of {browser.username} in {time.perf_counter() - started:.1f} s")

        results = Results()
        server_cpu, client_cpu = cpu_seconds(process.pid), time.process_time()
        started = time.perf_counter()
        deadline = started + args.duration
        tasks = [
            asyncio.create_task(client(port, browsers[number % args.users], deadline, args.read_share, results))
            for number in range(args.clients)
        ]
        if args.mixed:
            everyone = browsers + heavy
            tasks += [
                asyncio.create_task(history_reader(port, everyone, deadline, results)) for _ in range(args.readers)
            ]
            tasks += [asyncio.create_task(exporter(port, heavy[0], deadline, results))] if heavy else []
            tasks += [
                asyncio.create_task(hang_up_poster(port, browsers[number % args.users], deadline, results))
                for number in range(args.aborters)
            ]
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
        if not args.kill:
            server_cpu = cpu_seconds(process.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
        retries = Counter() if args.kill else await retry_sample(port, results, 100)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait(timeout=30)

    posts, reads = len(results.post_latencies), len(results.read_latencies)
    stored, integrity = await stored_rows(database)
    missing = [verdict_id for verdict_id in results.acknowledged if stored[verdict_id] == 0]
    duplicated = sum(1 for count in stored.values() if count > 1)
    summary = {
        "engine": "postgresql" if is_postgresql(database) else "sqlite",
        "workers": workers,
        "clients": args.clients,
        "users": args.users,
        "duration_s": round(elapsed, 2),
        "requests_per_s": round((posts + reads) / elapsed, 1),
        "verdict_posts_per_s": round(posts / elapsed, 1),
        "post_p50_ms": round(percentile(results.post_latencies, 0.50), 2),
        "post_p99_ms": round(percentile(results.post_latencies, 0.99), 2),
        "reads_per_s": round(reads / elapsed, 1),
        "read_p50_ms": round(percentile(results.read_latencies, 0.50), 2),
        "read_p99_ms": round(percentile(results.read_latencies, 0.99), 2),
        "server_cpu_ms_per_request": None if args.kill else round(server_cpu * 1000 / max(1, posts + reads), 3),
        "client_cpu_ms_per_request": round(client_cpu * 1000 / max(1, posts + reads), 3),
        "load_average_1min": os.getloadavg()[0],
        "statuses": dict(results.statuses),
        "errors": dict(results.errors),
        "idempotent_retries": dict(retries),
        "acknowledged": len(results.acknowledged),
        "rows_in_database": sum(stored.values()),
        "acknowledged_missing": len(missing),
        "duplicated_rows": duplicated,
        "integrity_check": integrity,
        "killed_with_sigkill": args.kill,
        "unanswered": results.unanswered,
    }
    if args.mixed:
        by_user = {name: percentile(values, 0.95) for name, values in results.history_latencies.items()}
        summary.update(
            {
                "heavy_users": args.heavy_users,
                "heavy_rows_each": args.heavy_rows,
                "history_reads": sum(len(values) for values in results.history_latencies.values()),
                "history_p95_ms_worst_user": round(max(by_user.values(), default=float("nan")), 2),
                "history_p95_ms_heavy_users": {
                    browser.username: round(by_user.get(browser.username, float("nan")), 2) for browser in heavy
                },
                "exports": len(results.export_latencies),
                "export_p50_ms": round(percentile(results.export_latencies, 0.5), 1),
                "posts_hung_up": results.hung_up,
            }
        )
    print(json.dumps(summary, indent=2))
    lost_or_duplicated = bool(missing or duplicated) or integrity not in {"ok", "n/a"}
    unexpected_errors = bool(results.errors) and not args.kill
    bad_retries = set(retries) - {200}
    if lost_or_duplicated or unexpected_errors or bad_retries or results.unanswered:
        print("FAILED: lost, duplicated, failed or unanswered requests", file=sys.stderr)
        return 1, summary
    if args.mixed:
        target = summary["history_p95_ms_worst_user"] < 300
        print(
            f"mixed target (0 unanswered, 0 lost, history p95 < 300 ms for every user): {'met' if target else 'NOT met'}"
        )
    elif not args.kill:
        target = summary["verdict_posts_per_s"] >= 500 and summary["post_p99_ms"] < 100
        print(f"target (>= 500 posts/s, p99 < 100 ms): {'met' if target else 'NOT met'}")
    return 0, summary


async def compare(args: argparse.Namespace) -> int:
    """The same load on SQLite and PostgreSQL, with 1 and 2 server processes; one table at the end."""
    rows = []
    with running_cluster(durable=True) as cluster:
        for engine, workers in ENGINES_AND_WORKERS:
            print(f"--- {engine}, {workers} server process(es)", flush=True)
            database = cluster.new_database() if engine == "postgresql" else None
            status, summary = await measure(args, database, workers)
            rows.append((status, summary))
    columns = [
        ("engine", "engine"),
        ("workers", "processes"),
        ("verdict_posts_per_s", "posts/s"),
        ("post_p50_ms", "post p50 ms"),
        ("post_p99_ms", "post p99 ms"),
        ("reads_per_s", "reads/s"),
        ("read_p99_ms", "read p99 ms"),
        ("server_cpu_ms_per_request", "server CPU ms/req"),
        ("acknowledged_missing", "lost"),
    ]
    print(
        f"\n{args.clients} clients, {args.users} users, {args.duration:g} s each, load average "
        f"{os.getloadavg()[0]:.1f} at the end\n"
    )
    print("| " + " | ".join(title for _, title in columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for _, summary in rows:
        print("| " + " | ".join(str(summary[key]) for key, _ in columns) + " |")
    return max(status for status, _ in rows)


async def run(args: argparse.Namespace) -> int:
    if args.compare:
        return await compare(args)
    return (await measure(args, args.database, args.workers))[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help="accounts to register and log in (default: 20)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections (default: 32)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load (default: 15)")
    parser.add_argument("--read-share", type=float, default=0.1, help="share of requests that read history")
    parser.add_argument("--kill", action="store_true", help="SIGKILL the server during the load, then verify")
    parser.add_argument("--mixed", action="store_true", help="add long-history readers, an exporter and hang-ups")
    parser.add_argument("--heavy-users", type=int, default=2, help="--mixed: users with a long history (default: 2)")
    parser.add_argument("--heavy-rows", type=int, default=100_000, help="--mixed: logs of each (default: 100000)")
    parser.add_argument("--readers", type=int, default=8, help="--mixed: history-reading clients (default: 8)")
    parser.add_argument("--aborters", type=int, default=4, help="--mixed: clients that hang up mid-post (default: 4)")
    parser.add_argument("--database", help="a postgresql:// URL to serve from (default: a new SQLite file)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default: 1)")
    parser.add_argument("--compare", action="store_true", help="SQLite and PostgreSQL, 1 and 2 processes: one table")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())

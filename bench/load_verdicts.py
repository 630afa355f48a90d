"""Load test: many logged-in clients posting and reading verdict logs against `unmask serve`.

Starts the real server (hypercorn) on loopback with a fresh instance folder, registers and logs in
--users accounts, then runs --clients concurrent keep-alive connections for --duration seconds
(a --read-share of them reading history, the rest posting new verdicts). It prints requests per second,
p50/p99 latency and errors, then stops the server (or kills it with SIGKILL, --kill) and checks that every
acknowledged verdict is in the database exactly once.

Standard library only: a minimal HTTP/1.1 client on asyncio streams.

    .venv/bin/python bench/load_verdicts.py --users 20 --clients 32 --duration 15
    .venv/bin/python bench/load_verdicts.py --kill     # acknowledged rows survive kill -9
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
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


@dataclass
class Results:
    post_latencies: list[float] = field(default_factory=list)
    read_latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    acknowledged: dict[str, tuple[Browser, dict]] = field(default_factory=dict)  # id -> (owner, body)


def new_verdict() -> dict:
    probability = random.random()
    return {
        "id": str(uuid.uuid4()),
        "image_sha256": os.urandom(32).hex(),
        "width": random.randint(64, 8000),
        "height": random.randint(64, 8000),
        "probability": probability,
        "verdict": "deepfake" if probability >= 0.5 else "real",
        "uncertain": abs(probability - 0.5) < 0.1,
        "model_version": "bench-1",
        "backend": "wasm",
        "inference_ms": random.uniform(5, 40),
        "analysed_at": datetime.now(UTC).isoformat(),
        "kind": "image",
    }


async def log_in(port: int, number: int) -> Browser:
    browser, connection = Browser(), Connection(port)
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
                reply = await connection.request("GET", "/api/verdicts?per_page=20", browser)
            else:
                reply = await connection.request("POST", "/api/verdicts", browser, body)
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
    """User + system CPU time of a process: on a shared machine, the cost per request is steadier than rates."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


async def run(args: argparse.Namespace) -> int:
    instance = Path(tempfile.mkdtemp(prefix="unmask-bench-"))
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("UNMASK_")}
    # All simulated users register from loopback; in real life they come from many addresses.
    environment["UNMASK_THROTTLE_REGISTRATION_FREE"] = str(args.users)
    command = [sys.executable, "-m", "unmask.cli", "serve", "--instance", str(instance), "--port", str(port),
               "--open-registration"]
    log = open(instance / "server.log", "wb")
    process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        await wait_until_up(port, process)
        started = time.perf_counter()
        browsers = [await log_in(port, number) for number in range(args.users)]
        print(f"registered and logged in {args.users} users in {time.perf_counter() - started:.1f} s")

        results = Results()
        server_cpu, client_cpu = cpu_seconds(process.pid), time.process_time()
        started = time.perf_counter()
        deadline = started + args.duration
        tasks = [
            asyncio.create_task(client(port, browsers[number % args.users], deadline, args.read_share, results))
            for number in range(args.clients)
        ]
        if args.kill:
            await asyncio.sleep(args.duration * 0.8)
            process.send_signal(signal.SIGKILL)  # in the middle of writes
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
        log.close()

    posts, reads = len(results.post_latencies), len(results.read_latencies)
    with sqlite3.connect(instance / "unmask.sqlite3") as database:
        stored = Counter(row[0] for row in database.execute("SELECT id FROM verdicts"))
        integrity = database.execute("PRAGMA integrity_check").fetchone()[0]
    missing = [verdict_id for verdict_id in results.acknowledged if stored[verdict_id] == 0]
    duplicated = sum(1 for count in stored.values() if count > 1)
    summary = {
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
    }
    print(json.dumps(summary, indent=2))
    lost_or_duplicated = bool(missing or duplicated) or integrity != "ok"
    unexpected_errors = bool(results.errors) and not args.kill
    bad_retries = set(retries) - {200}
    if lost_or_duplicated or unexpected_errors or bad_retries:
        print("FAILED: lost, duplicated or failed requests", file=sys.stderr)
        return 1
    if not args.kill:
        target = summary["verdict_posts_per_s"] >= 500 and summary["post_p99_ms"] < 100
        print(f"target (>= 500 posts/s, p99 < 100 ms): {'met' if target else 'NOT met'}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help="accounts to register and log in (default: 20)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections (default: 32)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load (default: 15)")
    parser.add_argument("--read-share", type=float, default=0.1, help="share of requests that read history")
    parser.add_argument("--kill", action="store_true", help="SIGKILL the server during the load, then verify")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())

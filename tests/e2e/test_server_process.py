"""The real `unmask serve` process as an outsider meets it: on a loopback address it answers only to
loopback host names (a DNS-rebinding page cannot reach it), and a body trickled in is cut off."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid

import pytest
from e2e_support import PASSWORD, REPO_ROOT, USERNAME, free_port

from unmask.server import DEFAULTS

pytestmark = pytest.mark.slow

BODY_TIMEOUT_S = DEFAULTS["BODY_TIMEOUT"]
HONEST_POSTS = 60
ABORTED_POSTS = 60
ANSWER_TIMEOUT_S = 15


def logged_in_headers(url: str) -> dict[str, str]:
    """Cookie and CSRF headers of a fresh API session of alice (as the browser would send them)."""
    session = urllib.request.urlopen(f"{url}/api/session", timeout=10)
    csrf_cookie = session.headers["Set-Cookie"].split(";")[0]
    token = json.loads(session.read())["csrf_token"]
    login = urllib.request.Request(
        f"{url}/api/login",
        data=json.dumps({"username": USERNAME, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json", "X-CSRF-Token": token, "Cookie": csrf_cookie},
    )
    with urllib.request.urlopen(login, timeout=30) as answer:
        session_cookie = next(
            cookie.split(";")[0]
            for cookie in answer.headers.get_all("Set-Cookie")
            if cookie.startswith("unmask_session=")
        )
    return {"Cookie": f"{csrf_cookie}; {session_cookie}", "X-CSRF-Token": token}


def verdict_post(url: str, headers: dict[str, str], verdict_id: str) -> bytes:
    body = json.dumps(
        {
            "id": verdict_id,
            "image_sha256": "ab" * 32,
            "width": 10,
            "height": 10,
            "probability": 0.2,
            "verdict": "real",
            "uncertain": False,
            "model_version": "fault-test",
            "backend": "wasm",
            "inference_ms": 1.0,
            "analysed_at": "2024-06-01T12:00:00Z",
            "kind": "image",
        }
    ).encode()
    host = urllib.parse.urlsplit(url).netloc
    lines = [
        "POST /api/verdicts HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def post_and_read_status(url: str, request: bytes) -> int:
    address = urllib.parse.urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(request)
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


async def post_and_hang_up(url: str, request: bytes, delay: float) -> None:
    """Sends a whole post and disconnects at once, like a closed tab or a phone losing its network."""
    address = urllib.parse.urlsplit(url)
    _, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(request)
    await writer.drain()
    await asyncio.sleep(delay)  # spread over the honest posts' commits
    writer.close()


def status_for_host(url: str, host: str) -> int:
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    connection.putrequest("GET", "/api/session", skip_host=True)
    connection.putheader("Host", host)
    connection.endheaders()
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.mark.parametrize("host", ["rebound.example", "rebound.example:80", "192.0.2.7"])
def test_a_foreign_host_name_is_refused(server, host: str) -> None:
    assert status_for_host(server.url, host) == 400


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_loopback_host_names_are_served(server, host: str) -> None:
    port = urllib.parse.urlsplit(server.url).port
    assert status_for_host(server.url, f"{host}:{port}") == 200


def test_a_trickled_body_is_cut_off(server) -> None:
    session = urllib.request.urlopen(f"{server.url}/api/session", timeout=10)
    cookie = session.headers["Set-Cookie"].split(";")[0]
    token = json.loads(session.read())["csrf_token"]
    address = urllib.parse.urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=BODY_TIMEOUT_S + 10)
    connection.putrequest("POST", "/api/login")
    for name, value in {
        "Content-Type": "application/json",
        "Content-Length": "8000",
        "Cookie": cookie,
        "X-CSRF-Token": token,
    }.items():
        connection.putheader(name, value)
    connection.endheaders(b"{")  # ...and then nothing more
    started = time.monotonic()
    response = connection.getresponse()
    waited = time.monotonic() - started
    connection.close()
    assert response.status == 408
    assert waited < BODY_TIMEOUT_S + 5


def test_clients_that_hang_up_mid_post_cost_the_others_nothing(server) -> None:
    headers = logged_in_headers(server.url)
    honest_ids = [str(uuid.uuid4()) for _ in range(HONEST_POSTS)]

    async def load() -> list[int]:
        aborted = [
            post_and_hang_up(server.url, verdict_post(server.url, headers, str(uuid.uuid4())), number / 200)
            for number in range(ABORTED_POSTS)
        ]
        honest = [
            post_and_read_status(server.url, verdict_post(server.url, headers, verdict_id)) for verdict_id in honest_ids
        ]
        # Interleaved, so that hang-ups land in the middle of the honest posts' batches.
        mixed = [task for pair in zip(aborted, honest, strict=True) for task in pair]
        results = await asyncio.wait_for(asyncio.gather(*mixed), timeout=ANSWER_TIMEOUT_S)
        return results[1::2]

    # A thread of its own: Playwright's sync API may hold this thread's event loop for the rest of the suite.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        statuses = pool.submit(asyncio.run, load()).result()
    with sqlite3.connect(server.database) as database:
        stored = {row[0] for row in database.execute("SELECT id FROM verdicts WHERE model_version = 'fault-test'")}
    assert statuses == [201] * HONEST_POSTS
    assert set(honest_ids) <= stored
    assert "Traceback" not in (server.instance / "server.log").read_text()


def raw_exchange(url: str, request: bytes) -> bytes:
    """Sends `request` as is and reads until the server closes the connection (or 5 s pass)."""
    address = urllib.parse.urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        connection.sendall(request)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


@pytest.mark.parametrize("path", ["/api/session", "/", "/no/such/path"])
def test_a_websocket_handshake_is_refused_cleanly(server, path: str) -> None:
    log = server.instance / "server.log"
    log_size = log.stat().st_size
    host = urllib.parse.urlsplit(server.url).netloc
    answer = raw_exchange(
        server.url,
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode(),
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-security-policy: default-src 'self'" in head.lower()
    assert json.loads(body)["error"] == "WebSocket connections are not supported"
    assert log.stat().st_size == log_size


def request_bytes(url: str, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    host = urllib.parse.urlsplit(url).netloc
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_an_early_refusal_keeps_the_connection_usable(server, content_type: str) -> None:
    """The 403 (no CSRF token) is decided before the body arrives; the next request on the connection
    is still answered."""
    body = json.dumps({"username": "alice", "password": "not the password"}).encode()
    first = request_bytes(
        server.url, "POST", "/api/login", {"Content-Type": content_type, "Content-Length": str(len(body))}
    )
    second = request_bytes(server.url, "GET", "/api/session", {"Connection": "close"})
    address = urllib.parse.urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        connection.sendall(first)
        time.sleep(0.3)
        connection.sendall(body)
        time.sleep(0.2)
        connection.sendall(second)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", received) == [b"403", b"200"]


def test_a_body_too_large_to_read_closes_the_connection_explicitly(server) -> None:
    declared = DEFAULTS["MAX_CONTENT_LENGTH"] + 1
    request = request_bytes(server.url, "POST", "/api/login", {"Content-Length": str(declared)}, b"x" * declared)
    head = raw_exchange(server.url, request).partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 413") and b"\r\nconnection: close" in head


def unmask(*args: str, stdin: bytes = b"", timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "unmask.cli", *args], cwd=REPO_ROOT, input=stdin, capture_output=True, timeout=timeout
    )


def assert_one_line_error(result: subprocess.CompletedProcess, words: str) -> None:
    errors = result.stderr.decode().strip().splitlines()
    assert result.returncode != 0
    assert "Traceback" not in result.stderr.decode()
    assert words in errors[-1] and errors[-1].startswith("unmask ")


def test_a_busy_port_ends_serve_with_one_line(tmp_path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = unmask("serve", "--instance", str(tmp_path), "--port", str(port))
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}")


def test_a_public_address_without_allowed_host_is_warned_about(tmp_path) -> None:
    # The port is taken, so the server never listens on the public address.
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        port = busy.getsockname()[1]
        result = unmask("serve", "--instance", str(tmp_path), "--host", "0.0.0.0", "--port", str(port))
    assert "WARNING unmask.server.commands: 0.0.0.0 is reachable from other machines" in result.stderr.decode()
    assert_one_line_error(result, "cannot listen on")


def test_log_level_error_leaves_out_the_warning(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        port = busy.getsockname()[1]
        result = unmask(
            "--log-level", "ERROR", "serve", "--instance", str(tmp_path), "--host", "0.0.0.0", "--port", str(port)
        )
    assert "reachable from other machines" not in result.stderr.decode()
    assert_one_line_error(result, "cannot listen on")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["serve", "--instance", "{instance}", "--proxy-hops", "-1"], "--proxy-hops: must be 0 to 16"),
        (["serve", "--instance", "{instance}", "--port", "70000"], "--port: must be 0 to 65535"),
        (["serve", "--instance", "{instance}", "--host", "localhost."], "cannot listen on 'localhost.'"),
        (["serve", "--instance", "{instance}", "--database", "{folder}"], "cannot open the database"),
        (["users", "list", "--instance", "{instance}", "--database", "{folder}"], "cannot open the database"),
        (["serve", "--instance", "{file}"], "cannot use the instance folder"),
    ],
)
def test_bad_command_lines_end_with_one_line(tmp_path, args: list[str], words: str) -> None:
    (tmp_path / "file").write_text("")
    paths = {"instance": str(tmp_path / "instance"), "folder": str(tmp_path), "file": str(tmp_path / "file")}
    assert_one_line_error(unmask(*(arg.format(**paths) for arg in args)), words)


def test_a_password_that_is_not_utf8_is_refused_with_one_line(tmp_path) -> None:
    result = unmask("users", "add", "carol", "--instance", str(tmp_path), stdin=b"caf\xe9 au lait 12\n")
    assert_one_line_error(result, "standard input is not UTF-8 text")


@pytest.mark.parametrize("host", ["127.1", "::ffff:127.0.0.1"])
def test_loopback_however_written_answers_only_loopback_names(tmp_path, host: str) -> None:
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "unmask.cli", "serve", "--instance", str(tmp_path), "--host", host, "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=log,
    )
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status = status_for_host(url, "rebound.example")
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.2)
        assert status == 400
        assert status_for_host(url, f"localhost:{port}") == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()

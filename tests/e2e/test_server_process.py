"""The real `unmask serve` process as an outsider meets it: on a loopback address it answers only to
loopback host names (a DNS-rebinding page cannot reach it), and a body trickled in is cut off."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
import urllib.request

import pytest

from server import DEFAULTS

pytestmark = pytest.mark.slow

BODY_TIMEOUT_S = DEFAULTS["BODY_TIMEOUT"]


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
        "Content-Type": "application/json", "Content-Length": "8000", "Cookie": cookie, "X-CSRF-Token": token,
    }.items():
        connection.putheader(name, value)
    connection.endheaders(b"{")  # ...and then nothing more
    started = time.monotonic()
    response = connection.getresponse()
    waited = time.monotonic() - started
    connection.close()
    assert response.status == 408
    assert waited < BODY_TIMEOUT_S + 5

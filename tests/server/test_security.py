"""Security headers, cross-site request forgery and failed-login throttling."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from quart import Quart
from server_support import PASSWORD, AuthActions

from unmask.server import create_app
from unmask.server.db import Database
from unmask.server.security import CONTENT_SECURITY_POLICY, RateLimit, Throttle

EXPECTED_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@pytest.mark.parametrize("path", ["/api/session", "/login", "/css/app.css", "/no/such/page", "/api/nothing"])
async def test_security_headers_on_every_response(client: Any, path: str) -> None:
    response = await client.get(path)
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.getlist(name) == [value], name
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert "microphone=()" in response.headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in response.headers  # only in HTTPS cookie mode


async def test_csp_allows_wasm_and_nothing_foreign() -> None:
    assert "script-src 'self' 'wasm-unsafe-eval';" in CONTENT_SECURITY_POLICY
    assert "http" not in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY


async def test_only_the_classifier_worker_may_run_blob_scripts(client: Any) -> None:
    """TF.js starts wasm threads from blob: scripts; pages keep the strict policy."""
    worker = (await client.get("/js/classifier-worker.js")).headers["Content-Security-Policy"]
    page = (await client.get("/login")).headers["Content-Security-Policy"]
    assert "script-src 'self' blob: 'wasm-unsafe-eval';" in worker
    assert "blob:" not in page.split("script-src")[1].split(";")[0]


async def test_api_responses_are_not_stored(client: Any) -> None:
    assert (await client.get("/api/session")).headers["Cache-Control"] == "no-store"


async def test_post_without_csrf_token_is_refused(client: Any) -> None:
    await client.get("/api/session")
    response = await client.post("/api/register", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert "CSRF" in (await response.get_json())["error"]


async def test_post_with_wrong_csrf_token_is_refused(auth: AuthActions) -> None:
    response = await auth.send("POST", "/api/logout", headers={"X-CSRF-Token": "forged"})
    assert response.status_code == 403


async def test_form_post_without_token_is_refused(auth: AuthActions) -> None:
    await auth.register()
    response = await auth.client.post("/api/logout", form={"x": "1"})
    assert response.status_code == 403


async def test_token_of_another_browser_is_refused(app: Quart, auth: AuthActions) -> None:
    # An attacker fetches a token in their own browser and plants it in a forged request.
    attacker_token = await AuthActions(app.test_client()).csrf()
    await auth.register()
    response = await auth.client.post("/api/logout", headers={"X-CSRF-Token": attacker_token})
    assert response.status_code == 403


async def test_cross_site_fetch_is_refused_even_with_token(auth: AuthActions) -> None:
    await auth.register()
    response = await auth.send("POST", "/api/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403


async def test_foreign_origin_is_refused_even_with_token(auth: AuthActions) -> None:
    await auth.register()
    response = await auth.send("POST", "/api/logout", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


async def test_same_origin_request_is_accepted(auth: AuthActions) -> None:
    await auth.register()
    headers = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert (await auth.send("POST", "/api/logout", headers=headers)).status_code == 200


async def test_trusted_origin_is_accepted(app: Quart, auth: AuthActions) -> None:
    app.config["TRUSTED_ORIGINS"] = ["https://unmask.example"]
    response = await auth.send("POST", "/api/logout", headers={"Origin": "https://unmask.example"})
    assert response.status_code == 200


async def test_csrf_token_is_stable_across_login(auth: AuthActions) -> None:
    # Verdicts queued offline are sent later with the token the page had: it must stay valid.
    before = await auth.csrf()
    await auth.register()
    assert await auth.csrf() == before


async def test_csrf_cookie_is_http_only_and_strict(client: Any) -> None:
    cookie = (await client.get("/api/session")).headers["Set-Cookie"]
    assert cookie.startswith("unmask_csrf=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie


async def test_get_needs_no_token(client: Any) -> None:
    assert (await client.get("/api/session")).status_code == 200


def throttle(clock: list[float]) -> Throttle:
    return Throttle("test", free_attempts=2, base_delay=1.0, max_delay=8.0, forget_after=100.0, clock=lambda: clock[0])


async def test_throttle_allows_free_attempts(database: Database) -> None:
    clock = [0.0]
    limiter = throttle(clock)
    assert await limiter.charge(database, "k") == 0
    assert await limiter.retry_after(database, "k") == 0
    assert await limiter.charge(database, "k") == 0
    assert await limiter.retry_after(database, "k") == 1.0


async def test_throttle_backs_off_exponentially_up_to_cap(database: Database) -> None:
    clock = [0.0]
    limiter = throttle(clock)
    waits = []
    for _ in range(8):
        await limiter.charge(database, "k")
        waits.append(await limiter.retry_after(database, "k"))
        clock[0] += waits[-1]  # the next attempt comes as soon as it may
    assert waits == [0, 1, 2, 4, 8, 8, 8, 8]


async def test_throttle_releases_after_the_wait(database: Database) -> None:
    clock = [0.0]
    limiter = throttle(clock)
    for _ in range(3):
        await limiter.charge(database, "k")
    clock[0] = 2.0
    assert await limiter.retry_after(database, "k") == 0


async def test_throttle_forgets_after_quiet_period(database: Database) -> None:
    clock = [0.0]
    limiter = throttle(clock)
    for _ in range(3):
        await limiter.charge(database, "k")
    clock[0] = 101.0
    await limiter.charge(database, "k")
    assert await limiter.retry_after(database, "k") == 0


async def test_throttle_charge_counts_the_attempt_before_it_runs(database: Database) -> None:
    limiter = throttle([0.0])
    assert [await limiter.charge(database, "k") for _ in range(4)] == [0, 0, 1.0, 1.0]


async def test_simultaneous_charges_each_see_the_others(database: Database) -> None:
    # Two server processes check at the same moment: the count in the database is the one they share.
    limiter = throttle([0.0])
    waits = await asyncio.gather(*[limiter.charge(database, "k") for _ in range(6)])
    assert sorted(waits) == [0, 0, 1.0, 1.0, 1.0, 1.0]


async def test_throttle_refund_takes_back_one_attempt(database: Database) -> None:
    limiter = throttle([0.0])
    await limiter.charge(database, "k")
    await limiter.charge(database, "k")
    await limiter.refund(database, "k")
    assert await limiter.charge(database, "k") == 0
    assert await limiter.charge(database, "k") == 1.0


async def test_forgotten_throttle_counts_are_removed(database: Database) -> None:
    clock = [0.0]
    limiter = throttle(clock)
    await limiter.charge(database, "old")
    clock[0] = 1000.0
    await limiter.charge(database, "new")  # a new key clears the quiet ones
    rows = await database.fetch_all("SELECT key FROM throttle_state")
    assert [row["key"] for row in rows] == ["new"]


async def test_rate_limit_allows_a_burst_then_waits(database: Database) -> None:
    clock = [0.0]
    limiter = RateLimit("test", per_minute=3, clock=lambda: clock[0])
    assert [await limiter.take(database, 1) for _ in range(4)] == [0, 0, 0, 20]
    clock[0] = 20.0  # one token back (3 a minute)
    assert [await limiter.take(database, 1) for _ in range(2)] == [0, 20]


@pytest.fixture
def strict_throttle(config: dict[str, Any]) -> dict[str, Any]:
    config.update(THROTTLE_ACCOUNT_FREE_FAILURES=3, THROTTLE_ADDRESS_FREE_FAILURES=6, THROTTLE_BASE_DELAY_S=30.0)
    return config


async def test_repeated_failed_logins_are_throttled(strict_throttle: dict[str, Any], auth: AuthActions) -> None:
    await auth.register()
    await auth.logout()
    statuses = [(await auth.login(password="wrong password!")).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    response = await auth.login()  # even the right password waits: the guesser learns nothing
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


async def test_simultaneous_guesses_are_throttled_too(strict_throttle: dict[str, Any], auth: AuthActions) -> None:
    await auth.register()
    await auth.logout()
    await auth.csrf()  # the CSRF cookie first, so that every request shares it
    responses = await asyncio.gather(*(auth.login(password=f"wrong guess {n}") for n in range(8)))
    assert sorted(response.status_code for response in responses) == [401] * 3 + [429] * 5


async def test_unknown_account_is_throttled_the_same(strict_throttle: dict[str, Any], auth: AuthActions) -> None:
    statuses = [(await auth.login("nobody", "wrong password!")).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


async def test_address_is_throttled_across_accounts(strict_throttle: dict[str, Any], auth: AuthActions) -> None:
    statuses = [(await auth.login(f"user{number}", "wrong password!")).status_code for number in range(7)]
    assert statuses == [401] * 6 + [429]


async def test_successful_login_clears_account_failures(strict_throttle: dict[str, Any], auth: AuthActions) -> None:
    await auth.register()
    await auth.logout()
    for _ in range(2):
        await auth.login(password="wrong password!")
    assert (await auth.login()).status_code == 200
    await auth.logout()
    assert (await auth.login(password="wrong password!")).status_code == 401


def from_address(number: int) -> dict[str, Any]:
    return {"scope_base": {"client": (f"192.0.2.{number}", 40000)}}


async def test_guesses_from_many_addresses_never_lock_the_owner_out(
    strict_throttle: dict[str, Any], app: Quart, auth: AuthActions
) -> None:
    await auth.register()  # this browser has now logged in to alice
    await auth.logout()
    attacker = AuthActions(app.test_client())
    guesses = {"username": "alice", "password": "wrong password!"}
    statuses = [
        (await attacker.send("POST", "/api/login", guesses, **from_address(n % 5))).status_code for n in range(12)
    ]
    assert statuses[:3] == [401] * 3 and set(statuses[3:]) == {429}
    assert (await auth.login(password="my own typo!")).status_code == 401  # the owner's own allowance
    assert (await auth.login()).status_code == 200


async def test_a_forged_known_browser_cookie_is_worth_nothing(
    strict_throttle: dict[str, Any], app: Quart, auth: AuthActions
) -> None:
    await auth.register()
    cookie = next(cookie for cookie in auth.client.cookie_jar if cookie.name == "unmask_known_browser")
    assert cookie.value.startswith("alice:")
    forged = f"{cookie.value.rsplit(':', 1)[0]}:{'A' * 43}"
    attacker = AuthActions(app.test_client())
    guesses = {"username": "alice", "password": "wrong password!"}
    headers = {"headers": {"Cookie": f"unmask_known_browser={forged}"}}
    statuses = [
        (await attacker.send("POST", "/api/login", guesses, **headers, **from_address(n))).status_code for n in range(5)
    ]
    assert statuses == [401] * 3 + [429] * 2


async def test_successful_logins_are_limited_per_account(config: dict[str, Any], app: Quart, auth: AuthActions) -> None:
    await auth.register()
    free = app.config["THROTTLE_ACCOUNT_FREE_LOGINS"]
    statuses = [(await auth.login()).status_code for _ in range(free + 1)]
    assert statuses == [200] * free + [429]
    assert "too many logins" in (await (await auth.login()).get_json())["error"]


async def test_a_malformed_username_touches_no_throttle(app: Quart, auth: AuthActions) -> None:
    response = await auth.login("x" * 7000, "wrong password!")
    counted = await app.extensions["unmask.db"].fetch_all("SELECT key FROM throttle_state")
    assert response.status_code == 401
    assert not counted


async def test_wrong_current_password_is_throttled(strict_throttle: dict[str, Any], auth: AuthActions) -> None:
    await auth.register()
    body = {"current_password": "wrong password!", "new_password": "a brand new secret"}
    statuses = [(await auth.send("POST", "/api/password", body)).status_code for _ in range(4)]
    assert statuses == [403, 403, 403, 429]


async def test_malformed_csrf_cookie_is_replaced(client: Any) -> None:
    client.cookie_jar = None
    response = await client.get("/api/session", headers={"Cookie": "unmask_csrf=chosen-by-attacker"})
    assert "chosen-by-attacker" not in response.headers["Set-Cookie"]


@pytest.fixture
def loopback_only(config: dict[str, Any]) -> dict[str, Any]:
    config["ALLOWED_HOSTS"] = ["localhost", "127.0.0.1", "[::1]"]
    return config


async def test_a_host_name_the_server_does_not_answer_to_is_refused(loopback_only: dict[str, Any], client: Any) -> None:
    response = await client.get("/api/session", headers={"Host": "rebound.example"})
    assert response.status_code == 400
    assert "unknown host name" in (await response.get_json())["error"]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"])
async def test_allowed_host_names_are_served_on_any_port(loopback_only: dict[str, Any], client: Any, host: str) -> None:
    assert (await client.get("/api/session", headers={"Host": host})).status_code == 200


async def test_a_body_declared_too_large_is_refused_where_it_would_not_be_read(auth: AuthActions) -> None:
    headers = {"Content-Type": "application/json", "Content-Length": "9000"}  # what a real client declares
    response = await auth.send("POST", "/api/logout", data=b"x" * 9000, headers=headers)
    assert response.status_code == 413


async def register_from(app: Quart, address: str, username: str) -> int:
    """Registers `username` from a fresh browser behind a proxy that names the client `address`."""
    actions = AuthActions(app.test_client())
    forwarded = {"X-Forwarded-For": address}
    await actions.client.get("/api/session", headers=forwarded)
    response = await actions.send(
        "POST", "/api/register", {"username": username, "password": PASSWORD}, headers=forwarded
    )
    return response.status_code


@pytest.mark.parametrize(("hops", "other_address_status"), [(1, 201), (0, 429)])
async def test_the_client_address_comes_from_a_trusted_proxy_only(
    config: dict[str, Any], hops: int, other_address_status: int
) -> None:
    config.update(PROXY_HOPS=hops, THROTTLE_REGISTRATION_FREE=2)
    app = create_app(config)
    async with app.test_app():
        assert [await register_from(app, "198.51.100.1", f"user{n}") for n in range(3)] == [201, 201, 429]
        # Behind a trusted proxy another client has its own count; without one the header is ignored.
        assert await register_from(app, "198.51.100.2", "other") == other_address_status


async def test_ipv4_clients_of_a_dual_stack_socket_are_counted_apart(config: dict[str, Any]) -> None:
    # On a dual-stack socket IPv4 peers arrive as ::ffff:a.b.c.d; grouped by /64 they would all share one count.
    config.update(PROXY_HOPS=1, THROTTLE_REGISTRATION_FREE=1)
    app = create_app(config)
    async with app.test_app():
        assert await register_from(app, "::ffff:198.51.100.1", "first") == 201
        assert await register_from(app, "::ffff:198.51.100.1", "second") == 429
        assert await register_from(app, "::ffff:198.51.100.2", "third") == 201


@pytest.mark.parametrize(("peer", "status"), [("127.0.0.1", 200), ("203.0.113.9", 400)])
async def test_a_forwarded_host_counts_only_from_a_trusted_proxy(
    config: dict[str, Any], peer: str, status: int
) -> None:
    """A client reaching the server directly cannot pass the DNS-rebinding check by naming the host itself."""
    config.update(PROXY_HOPS=1, ALLOWED_HOSTS=["unmask.example.org"])
    app = create_app(config)
    async with app.test_app():
        response = await app.test_client().get(
            "/api/session",
            headers={"Host": "rebound.example", "X-Forwarded-Host": "unmask.example.org"},
            scope_base={"client": (peer, 40000)},
        )
    assert response.status_code == status

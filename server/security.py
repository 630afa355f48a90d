"""Response headers, request host and size checks, cross-site request forgery checks and throttling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypercorn.middleware import ProxyFixMiddleware
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope
from quart import Quart, Response, after_this_request, current_app, g, request
from werkzeug.exceptions import BadRequest, Forbidden, RequestEntityTooLarge, RequestTimeout

from unmask.server.db import Database

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_SECRET_BYTES = 32
CSRF_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32)
# Chrome caps cookie lifetimes at 400 days; the token outlives any offline period shorter than that.
CSRF_COOKIE_MAX_AGE_S = 400 * 24 * 3600
KNOWN_BROWSER_KEY = "unmask.known_browser_key"
# How often a process clears forgotten throttle counts from the database (at most).
PURGE_INTERVAL_S = 60.0

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; connect-src 'self'; "
    "img-src 'self' blob: data:; style-src 'self'; media-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The classifier worker (and only it) may also run blob: scripts: TF.js starts its wasm threads by
# importScripts() of a blob: URL. Blob workers inherit their creator's policy, so the pages, where
# injected markup could matter, keep the strict policy above.
CLASSIFIER_WORKER_PATH = "/js/classifier-worker.js"
CLASSIFIER_WORKER_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", "script-src 'self' blob:"
)
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        # Only features Chromium recognises: an unknown one is logged as an error on every page.
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": PERMISSIONS_POLICY,
    # Cross-origin isolation: SharedArrayBuffer, hence TF.js wasm threads.
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}
HSTS = "max-age=63072000; includeSubDomains"


def csrf_token() -> str:
    """The token for this browser: an HMAC of its random CSRF cookie.

    A cross-site page can neither read the HttpOnly cookie nor the same-origin response that carries
    the token; the token has no expiry, so verdicts queued offline can still be posted later.
    """
    return _sign(_browser_secret())


def refresh_csrf_cookie(response: Response) -> None:
    """(Re)issue the CSRF cookie with a fresh lifetime; its value stays the same once set."""
    response.set_cookie(
        current_app.config["CSRF_COOKIE_NAME"],
        _browser_secret(),
        max_age=CSRF_COOKIE_MAX_AGE_S,
        path="/",
        secure=bool(current_app.config["HTTPS_COOKIES"]),
        httponly=True,
        samesite="Strict",
    )


def _browser_secret() -> str:
    """The random value in this browser's CSRF cookie; a new one when it has none (or a malformed one)."""
    secret = _cookie_secret() or g.get("new_csrf_secret")
    if not secret:
        secret = g.new_csrf_secret = secrets.token_urlsafe(CSRF_SECRET_BYTES)
    return secret


def _cookie_secret() -> str | None:
    secret = request.cookies.get(current_app.config["CSRF_COOKIE_NAME"], "")
    return secret if CSRF_SECRET_PATTERN.fullmatch(secret) else None


def _sign(secret: str, key: str = "unmask.csrf_key") -> str:
    digest = hmac.new(current_app.extensions[key], secret.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def remember_known_browser(username: str) -> None:
    """After a successful login: this browser gets a password-check allowance of its own for the account
    (a signed cookie naming the account and a random id), which guesses from elsewhere cannot use up."""
    browser_id = _known_browser_id(username) or secrets.token_urlsafe(16)  # one id per browser and account
    value = f"{account_key(username)}:{browser_id}"
    signed = f"{value}:{_sign(value, KNOWN_BROWSER_KEY)}"

    @after_this_request
    async def set_cookie(response: Response) -> Response:
        response.set_cookie(
            current_app.config["KNOWN_BROWSER_COOKIE_NAME"],
            signed,
            max_age=CSRF_COOKIE_MAX_AGE_S,
            path="/",
            secure=bool(current_app.config["HTTPS_COOKIES"]),
            httponly=True,
            samesite="Strict",
        )
        return response


def _known_browser_id(username: str) -> str | None:
    """The id in this browser's known-browser cookie when the cookie is genuine and names this account."""
    name, _, rest = request.cookies.get(current_app.config["KNOWN_BROWSER_COOKIE_NAME"], "").partition(":")
    browser_id, _, signature = rest.partition(":")
    if name != account_key(username) or not browser_id:
        return None
    genuine = hmac.compare_digest(signature.encode(), _sign(f"{name}:{browser_id}", KNOWN_BROWSER_KEY).encode())
    return browser_id if genuine else None


async def _check_request_envelope() -> None:
    """Refuses, before any work: a Host this server does not answer to (DNS rebinding), and a body
    declared larger than any endpoint accepts (also where the endpoint would not read it)."""
    allowed_hosts = current_app.config["ALLOWED_HOSTS"]
    if allowed_hosts and host_name(request.host) not in allowed_hosts:
        raise BadRequest("unknown host name: this server answers to " + ", ".join(allowed_hosts))
    if (request.content_length or 0) > current_app.config["MAX_CONTENT_LENGTH"]:
        raise RequestEntityTooLarge()


def host_name(host: str) -> str:
    """The Host header without its port: "localhost", "127.0.0.1", "[::1]"."""
    host = host.lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.partition(":")[0]


async def _check_request_forgery() -> None:
    if request.method not in STATE_CHANGING_METHODS:
        return
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in {"same-origin", "none"}:
        raise Forbidden("cross-site request refused")
    origin = request.headers.get("Origin")
    if origin is not None and origin not in _allowed_origins():
        raise Forbidden("cross-origin request refused")
    secret = _cookie_secret()
    sent = request.headers.get(CSRF_HEADER, "")
    if not secret or not hmac.compare_digest(sent.encode(), _sign(secret).encode()):
        raise Forbidden("missing or invalid CSRF token: send the X-CSRF-Token header from GET /api/session")


def _allowed_origins() -> set[str]:
    # Behind a TLS-terminating proxy the request arrives as http, but the browser's origin is https.
    scheme = "https" if current_app.config["HTTPS_COOKIES"] else request.scheme
    return {f"{scheme}://{request.host}", *current_app.config["TRUSTED_ORIGINS"]}


async def _finish_reading_body(response: Response) -> Response:
    """A refusal sent before the body arrived (401, 403, 415 ...) still reads it, at most
    MAX_CONTENT_LENGTH bytes: otherwise the server drops the keep-alive connection after the answer
    without saying so, and the client's next request on it is lost. A body it will not read (too large,
    or too slow to arrive) gets `Connection: close` instead."""
    has_body = request.content_length or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if has_body and response.status_code in {408, 413}:  # the body already failed to arrive, or is too large
        response.headers["Connection"] = "close"
    elif has_body:
        try:
            await request.get_data()  # at once when the view has read it already
        except (RequestEntityTooLarge, RequestTimeout):
            response.headers["Connection"] = "close"
    return response


async def _add_security_headers(response: Response) -> Response:
    # extend, not setdefault: no view sets these, and each setdefault scans every header (measurably slow).
    response.headers.extend(SECURITY_HEADERS)
    if request.path == CLASSIFIER_WORKER_PATH:
        response.headers["Content-Security-Policy"] = CLASSIFIER_WORKER_CONTENT_SECURITY_POLICY
    if current_app.config["HTTPS_COOKIES"]:
        response.headers["Strict-Transport-Security"] = HSTS
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


class RefuseWebSockets:
    """This server has no WebSocket endpoint: a handshake on any path gets a plain 400 with the usual
    headers, before Quart (whose websocket handling would fail with a 500 and a traceback in the log)."""

    REFUSAL = json.dumps({"error": "WebSocket connections are not supported", "field": None}).encode()

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        await receive()  # websocket.connect
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1003})  # the server answers 403
            return None
        headers = {
            **SECURITY_HEADERS,
            "Content-Type": "application/json",
            "Content-Length": str(len(self.REFUSAL)),
            "Cache-Control": "no-store",
        }
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 400,
                "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
            }
        )
        await send({"type": "websocket.http.response.body", "body": self.REFUSAL})
        return None


class TrustedProxies:
    """X-Forwarded-For, -Proto and -Host (the last `hops` entries) are taken into account only on
    connections from the proxies' own addresses: a client reaching the server directly could otherwise
    name its own address (escaping the throttles) and host (passing the DNS-rebinding check)."""

    def __init__(self, app: Callable, hops: int, networks: list[str]) -> None:
        self.app = app
        self.behind_proxy = ProxyFixMiddleware(app, mode="legacy", trusted_hops=hops)
        self.networks = [ipaddress.ip_network(network) for network in networks]

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        peer = scope.get("client")
        # No peer address: a Unix socket, reachable only on this machine.
        trusted = peer is None or _in_networks(peer[0], self.networks)
        await (self.behind_proxy if trusted else self.app)(scope, receive, send)


def _in_networks(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    if parsed.version == 6 and parsed.ipv4_mapped:
        parsed = parsed.ipv4_mapped
    return any(parsed in network for network in networks)


class Throttle:
    """Exponential backoff after repeated attempts for one key, kept in the database so that every server
    process counts the same attempts.

    After `free_attempts` attempts each further one must wait base * 2^n seconds (at most `max_delay`)
    after the previous one; the count is forgotten after `forget_after` quiet seconds.

    An attempt counts when it starts (`charge`), before the slow check it guards (a password hash),
    and is refunded if it turns out not to count: requests sent at the same moment, to any process, each
    see the others (a compare-and-set on the stored count), so they cannot all slip through together.
    """

    def __init__(
        self,
        scope: str,
        free_attempts: int,
        base_delay: float,
        max_delay: float,
        forget_after: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._scope = scope  # the kind of count (rows of all throttles share one table)
        self._free = free_attempts
        self._base = base_delay
        self._max = max_delay
        self._forget_after = forget_after
        self._clock = clock  # wall time: the processes sharing the counts share no other clock
        self._purged_at = -math.inf

    async def retry_after(self, db: Database, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        count, last, _ = await self._current(db, key)
        return self._wait(count, last)

    async def charge(self, db: Database, key: str) -> float:
        """Records an attempt unless `key` must wait; returns the wait in seconds (0: go ahead)."""
        while True:
            count, last, stored = await self._current(db, key)
            if wait := self._wait(count, last):
                return wait
            if stored is None:
                await self._purge(db)
                changed = await db.write(
                    "INSERT INTO throttle_state (scope, key, amount, at) VALUES (?, ?, 1, ?)"
                    " ON CONFLICT (scope, key) DO NOTHING",
                    (self._scope, key, self._clock()),
                    durable=False,
                )
            else:  # only if no other request changed it since it was read
                changed = await db.write(
                    "UPDATE throttle_state SET amount = ?, at = ? WHERE scope = ? AND key = ? AND amount = ? AND at = ?",
                    (count + 1, self._clock(), self._scope, key, *stored),
                    durable=False,
                )
            if changed:
                return 0.0

    async def refund(self, db: Database, key: str) -> None:
        """Takes back one charged attempt (it succeeded)."""
        if not await db.write(
            "UPDATE throttle_state SET amount = amount - 1 WHERE scope = ? AND key = ? AND amount > 1",
            (self._scope, key),
            durable=False,
        ):
            await self.reset(db, key)

    async def reset(self, db: Database, key: str) -> None:
        await db.write("DELETE FROM throttle_state WHERE scope = ? AND key = ?", (self._scope, key), durable=False)

    async def _current(self, db: Database, key: str) -> tuple[int, float, tuple[float, float] | None]:
        """The attempts counted and the time of the last (0 when forgotten), and the stored pair as read."""
        row = await db.fetch_one(
            "SELECT amount, at FROM throttle_state WHERE scope = ? AND key = ?", (self._scope, key)
        )
        if row is None:
            return 0, 0.0, None
        stored = (row["amount"], row["at"])
        if self._clock() - row["at"] > self._forget_after:
            return 0, 0.0, stored
        return int(row["amount"]), row["at"], stored

    def _wait(self, count: int, last: float) -> float:
        if count < self._free:
            return 0.0
        delay = min(self._base * 2 ** (count - self._free), self._max)
        return max(0.0, last + delay - self._clock())

    async def _purge(self, db: Database) -> None:
        """Forgets the quiet keys now and then, so the table holds only the recently active ones."""
        now = self._clock()
        if now - self._purged_at >= min(self._forget_after, PURGE_INTERVAL_S):
            self._purged_at = now
            await db.write(
                "DELETE FROM throttle_state WHERE scope = ? AND at < ?",
                (self._scope, now - self._forget_after),
                durable=False,
            )


class RateLimit:
    """At most `per_minute` actions a minute per key, in bursts of up to that many (a token bucket): an
    offline queue may send what it kept at once, a script cannot post without end. The buckets are in the
    database, shared by every server process; each take is one statement."""

    def __init__(self, scope: str, per_minute: int, clock: Callable[[], float] = time.time) -> None:
        self._scope = scope
        self._capacity = float(per_minute)
        self._per_second = per_minute / 60
        self._clock = clock

    async def take(self, db: Database, key: Any) -> int:
        """Takes one action's token; 0, or the whole seconds to wait when none is left (nothing taken)."""
        refilled = "throttle_state.amount + (excluded.at - throttle_state.at) * ?"
        # A new bucket starts full (excluded.amount is the full bucket less this token); the update
        # happens only when a whole token is there, else nothing is taken and no row comes back.
        taken = await db.write_returning(
            "INSERT INTO throttle_state (scope, key, amount, at) VALUES (?, ?, ?, ?)"
            f" ON CONFLICT (scope, key) DO UPDATE SET amount = CASE WHEN {refilled} > excluded.amount + 1"
            f" THEN excluded.amount ELSE {refilled} - 1 END, at = excluded.at WHERE {refilled} >= 1"
            " RETURNING amount",
            (self._scope, str(key), self._capacity - 1, self._clock(), *[self._per_second] * 3),
            durable=False,
        )
        if taken:
            return 0
        row = await db.fetch_one(
            "SELECT amount, at FROM throttle_state WHERE scope = ? AND key = ?", (self._scope, str(key))
        )
        tokens = 0.0 if row is None else row["amount"] + (self._clock() - row["at"]) * self._per_second
        return max(1, math.ceil((1 - tokens) / self._per_second))


@dataclass(frozen=True)
class LoginThrottles:
    """Password checks, counted per client address and per account; logins (right passwords) per account.

    A browser that has logged in to the account before (its known-browser cookie) has an allowance of its
    own; every other browser shares the account's. Guesses from anywhere else, however many addresses
    they come from, therefore never lock the owner's usual browsers out.
    """

    account: Throttle
    address: Throttle
    logins: Throttle

    async def charge(self, db: Database, username: str, login: bool = False) -> int:
        """Counts a password check about to run (and, for a login, a login); the whole seconds to wait
        instead (0: go ahead, every count taken; otherwise none taken)."""
        checks = self._checks(username, login)
        for number, (throttle, key) in enumerate(checks):
            if await throttle.charge(db, key):
                for charged, charged_key in checks[:number]:
                    await charged.refund(db, charged_key)
                waits = [await throttle.retry_after(db, key) for throttle, key in checks]
                return max(1, math.ceil(max(waits)))
        return 0

    async def failure(self, db: Database, username: str) -> None:
        """A login whose password was wrong: it counts as a failure, not as a login."""
        await self.logins.refund(db, self._account_key(username))

    async def success(self, db: Database, username: str) -> None:
        await self.account.reset(db, self._account_key(username))
        # Only this attempt is taken back: otherwise an attacker could clear the address count with
        # their own account.
        await self.address.refund(db, address_key())

    def _checks(self, username: str, login: bool) -> list[tuple[Throttle, str]]:
        account = self._account_key(username)
        checks = [(self.account, account), (self.address, address_key())]
        if login:
            checks.append((self.logins, account))
        return checks

    @staticmethod
    def _account_key(username: str) -> str:
        browser_id = _known_browser_id(username)
        return f"browser:{browser_id}" if browser_id else f"account:{account_key(username)}"


def account_key(username: str) -> str:
    return username.casefold()


def address_key() -> str:
    """The client address; IPv6 clients are grouped by /64, since one host usually owns a whole /64."""
    address = request.remote_addr or ""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6 and parsed.ipv4_mapped:  # an IPv4 client of a dual-stack socket
        return str(parsed.ipv4_mapped)
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def get_post_rate() -> RateLimit:
    """Verdict-log posts per account (keyed by the account's id)."""
    return current_app.extensions["unmask.post_rate"]


def get_login_throttles() -> LoginThrottles:
    return current_app.extensions["unmask.login_throttles"]


def get_registration_throttle() -> Throttle:
    """Counts accounts created per client address (keyed by `address_key()`)."""
    return current_app.extensions["unmask.registration_throttle"]


def init_app(app: Quart) -> None:
    config = app.config
    # A key of its own, derived from the secret key, so CSRF tokens can never be confused with cookies.
    app.extensions["unmask.csrf_key"] = hashlib.sha256(b"unmask csrf\0" + app.secret_key.encode()).digest()
    app.extensions[KNOWN_BROWSER_KEY] = hashlib.sha256(b"unmask known browser\0" + app.secret_key.encode()).digest()
    app.extensions["unmask.login_throttles"] = LoginThrottles(
        account=Throttle(
            "login account",
            config["THROTTLE_ACCOUNT_FREE_FAILURES"],
            config["THROTTLE_BASE_DELAY_S"],
            config["THROTTLE_ACCOUNT_MAX_DELAY_S"],
            config["THROTTLE_FORGET_AFTER_S"],
        ),
        address=Throttle(
            "login address",
            config["THROTTLE_ADDRESS_FREE_FAILURES"],
            config["THROTTLE_BASE_DELAY_S"],
            config["THROTTLE_ADDRESS_MAX_DELAY_S"],
            config["THROTTLE_FORGET_AFTER_S"],
        ),
        logins=Throttle(
            "logins",
            config["THROTTLE_ACCOUNT_FREE_LOGINS"],
            config["THROTTLE_BASE_DELAY_S"],
            config["THROTTLE_ACCOUNT_MAX_DELAY_S"],
            config["THROTTLE_FORGET_AFTER_S"],
        ),
    )
    app.extensions["unmask.post_rate"] = RateLimit("verdict posts", int(config["VERDICT_POSTS_PER_MINUTE"]))
    app.extensions["unmask.registration_throttle"] = Throttle(
        "registrations",
        config["THROTTLE_REGISTRATION_FREE"],
        config["THROTTLE_BASE_DELAY_S"],
        config["THROTTLE_REGISTRATION_MAX_DELAY_S"],
        config["THROTTLE_FORGET_AFTER_S"],
    )
    app.before_request(_check_request_envelope)
    app.before_request(_check_request_forgery)
    app.after_request(_add_security_headers)
    app.after_request(_finish_reading_body)

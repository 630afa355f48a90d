"""The Unmask web server: accounts, sessions, verdict logs and the static browser app.

It never receives an image; the browser analyses pictures locally and posts only a small verdict log.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from quart import Quart

from unmask import MODEL_DIR, WEB_ROOT

logger = logging.getLogger(__name__)

SECRET_KEY_FILE = "secret_key"
# aiosqlite logs every statement with its parameters at DEBUG: password hashes, session keys and image hashes
# would reach the log whenever someone turns on debug logging. Never below INFO, whatever the log level.
QUIET_LOGGERS = {"aiosqlite": logging.INFO}

DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": None,  # from UNMASK_SECRET_KEY, else generated once into the instance folder
    # A SQLite file (default: <instance>/unmask.sqlite3) or a postgresql:// URL (several server processes).
    "DATABASE": None,
    # SQLite only (a PostgreSQL commit waits for its own WAL flush, synchronous_commit). FULL: a commit
    # returns only after the WAL is on disk, so an acknowledged row survives kill -9 and power loss; it
    # costs ~0.4 ms per commit here, well inside the load target.
    "DATABASE_SYNCHRONOUS": "FULL",
    # Connections for reads (per process): a slow read occupies one, the others go on serving.
    "DATABASE_READERS": 4,
    "WEB_ROOT": str(WEB_ROOT),
    "MODEL_DIR": str(MODEL_DIR),
    "HTTPS_COOKIES": False,
    "REGISTRATION_OPEN": False,  # closed unless the administrator opens it: safe by default
    # Extra origins allowed to post (e.g. the public https origin behind a TLS-terminating proxy).
    "TRUSTED_ORIGINS": [],
    # Reverse proxies in front of the server that set X-Forwarded-For, -Proto and -Host (0: none, and
    # those headers are ignored, since anyone can send them). The throttles count by the address found.
    "PROXY_HOPS": 0,
    # The addresses (networks) those proxies connect from; a direct client elsewhere cannot name its own
    # address or host in those headers.
    "TRUSTED_PROXIES": ["127.0.0.0/8", "::1/128"],
    # Host names (Host header, no port) the server answers to; empty: any. `unmask serve` on a
    # loopback address defaults to the loopback names, so a DNS-rebinding web page cannot reach it.
    "ALLOWED_HOSTS": [],
    # No endpoint needs more: the largest body is a verdict log (8 KB limit of its own contract).
    "MAX_CONTENT_LENGTH": 8 * 1024,
    # Seconds for a whole body to arrive (Quart's setting): a slow sender cannot hold a request open.
    "BODY_TIMEOUT": 10,
    # Per account: verdict logs kept (a post beyond: 413) and posted a minute (beyond: 429 + Retry-After).
    "MAX_VERDICTS_PER_ACCOUNT": 100_000,
    "VERDICT_POSTS_PER_MINUTE": 600,
    # argon2id parameters (argon2-cffi defaults, RFC 9106 "low memory" profile).
    "ARGON2_TIME_COST": 3,
    "ARGON2_MEMORY_COST_KIB": 64 * 1024,
    "ARGON2_PARALLELISM": 4,
    # Login throttling: per account a low cap (a browser that has logged in to the account before has
    # its own, so guessers cannot lock the owner out); per client address a high cap, which is what stops
    # a single source guessing; successful logins per account, so the right password cannot be used to
    # keep the password hasher busy.
    "THROTTLE_ACCOUNT_FREE_FAILURES": 5,
    "THROTTLE_ACCOUNT_FREE_LOGINS": 10,
    "THROTTLE_ACCOUNT_MAX_DELAY_S": 60.0,
    "THROTTLE_ADDRESS_FREE_FAILURES": 20,
    "THROTTLE_ADDRESS_MAX_DELAY_S": 900.0,
    "THROTTLE_BASE_DELAY_S": 1.0,
    # Open registration: after this many new accounts from one address, each further one waits (doubling).
    "THROTTLE_REGISTRATION_FREE": 5,
    "THROTTLE_REGISTRATION_MAX_DELAY_S": 3600.0,
    "THROTTLE_FORGET_AFTER_S": 3600.0,
    "SESSION_DURATION_S": 30 * 24 * 3600,
    # Logged-in browsers per account; a new login beyond it ends the oldest session.
    "MAX_SESSIONS_PER_ACCOUNT": 100,
}


def create_app(config: dict[str, Any] | None = None) -> Quart:
    """Build the application: defaults, then `<instance>/config.py`, then UNMASK_* variables, then `config`."""
    overrides = dict(config or {})
    instance_path = Path(
        overrides.get("INSTANCE_PATH") or os.environ.get("UNMASK_INSTANCE_PATH") or "instance"
    ).resolve()
    instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)

    app = Quart(__name__, instance_path=str(instance_path), static_folder=None)
    app.config.update(DEFAULTS)
    app.config.from_pyfile(str(instance_path / "config.py"), silent=True)
    # Values are parsed as JSON where they can be: UNMASK_HTTPS_COOKIES=true gives a bool.
    app.config.from_prefixed_env(prefix="UNMASK")
    app.config.update(overrides)
    app.config["INSTANCE_PATH"] = str(instance_path)
    if not app.config["DATABASE"]:
        app.config["DATABASE"] = str(instance_path / "unmask.sqlite3")
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret_key(instance_path)
    _configure_cookies(app)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)

    from unmask.server import auth, db, errors, pages, passwords, security, verdicts

    # Set before the first render, which builds the Jinja2 loader from it.
    app.template_folder = str(pages.templates_folder(app.config["WEB_ROOT"]))

    db.init_app(app)
    passwords.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(verdicts.blueprint)
    app.register_blueprint(pages.blueprint)
    app.asgi_app = security.RefuseWebSockets(app.asgi_app)
    if hops := int(app.config["PROXY_HOPS"]):
        app.asgi_app = security.TrustedProxies(app.asgi_app, hops, app.config["TRUSTED_PROXIES"])
    return app


def _configure_cookies(app: Quart) -> None:
    secure = bool(app.config["HTTPS_COOKIES"])
    # The __Host- prefix makes the browser refuse the cookie from a sibling subdomain (cookie tossing).
    prefix = "__Host-" if secure else ""
    app.config.update(
        QUART_AUTH_COOKIE_NAME=f"{prefix}unmask_session",
        QUART_AUTH_COOKIE_SECURE=secure,
        QUART_AUTH_COOKIE_HTTP_ONLY=True,
        # Lax keeps the user logged in when following a link to the app; CSRF tokens cover the rest.
        QUART_AUTH_COOKIE_SAMESITE="Lax",
        QUART_AUTH_DURATION=int(app.config["SESSION_DURATION_S"]),
        QUART_AUTH_SALT="unmask auth cookie",
        CSRF_COOKIE_NAME=f"{prefix}unmask_csrf",
        KNOWN_BROWSER_COOKIE_NAME=f"{prefix}unmask_known_browser",
    )


def _instance_secret_key(instance_path: Path) -> str:
    """Read the key generated on first start, or create it readable by the owner only."""
    key_file = instance_path / SECRET_KEY_FILE
    try:
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if key_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning("%s is readable by other users; run chmod 600 on it", key_file)
        return key_file.read_text(encoding="ascii").strip()
    key = secrets.token_urlsafe(64)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key)
    return key

"""`unmask serve` and `unmask users ...`: run the server and administer accounts."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import ipaddress
import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from unmask import UserFacingError
from unmask.server import accounts
from unmask.server.db import Database, DatabaseError, shown_target
from unmask.server.passwords import Passwords, password_problem

logger = logging.getLogger(__name__)

LOOPBACK_HOST_NAMES = ["localhost", "127.0.0.1", "[::1]"]
READ_TIMEOUT_S = 30


def register(subcommands: argparse._SubParsersAction) -> None:
    storage = argparse.ArgumentParser(add_help=False)
    storage.add_argument(
        "--instance", metavar="DIR", help="instance folder holding the database and secret key (default: ./instance)"
    )
    storage.add_argument(
        "--database",
        metavar="PATH_OR_URL",
        help="a SQLite database file (default: <instance>/unmask.sqlite3), or a PostgreSQL database as"
        " postgresql://USER@HOST/NAME (needs the postgres extra; for --workers above 1 or several machines)",
    )

    serve = subcommands.add_parser(
        "serve",
        parents=[storage],
        help="run the web server",
        description="Serve the browser app and the accounts/verdict-log API with hypercorn.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument(
        "--port", type=_bounded_integer(0, 65535), default=8000, help="port to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--workers",
        type=_bounded_integer(1, 64),
        default=1,
        metavar="N",
        help="server processes sharing the port (default: %(default)s); every one sees the same accounts,"
        " sessions and throttles, kept in the database",
    )
    serve.add_argument(
        "--https-cookies",
        action="store_true",
        default=None,
        help="the site is reached over HTTPS (e.g. behind a TLS proxy): Secure cookies and HSTS",
    )
    serve.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        metavar="NAME",
        help="a host name the site is reached by (repeat for several); requests naming another host are"
        " refused. Default: any, or on a loopback address only localhost, 127.0.0.1 and [::1]",
    )
    serve.add_argument(
        "--proxy-hops",
        type=_bounded_integer(0, 16),
        metavar="N",
        help="the number of reverse proxies in front of the server that set X-Forwarded-For/-Proto/-Host;"
        " their last N entries are trusted for the client address, scheme and host, on connections from"
        " TRUSTED_PROXIES (default: loopback) only (default: 0, ignored)",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log one line per request (address, method, path, status) to standard error; off by default:"
        " the server keeps no record of who used it when",
    )
    registration = serve.add_mutually_exclusive_group()
    registration.add_argument(
        "--open-registration",
        dest="registration_open",
        action="store_const",
        const=True,
        help="let anyone create an account from the register page",
    )
    registration.add_argument(
        "--closed-registration",
        dest="registration_open",
        action="store_const",
        const=False,
        help="only administrators create accounts, with `unmask users add` (the default)",
    )
    serve.set_defaults(handler=serve_command)

    users = subcommands.add_parser(
        "users", help="administer accounts", description="Add, list and remove accounts, or reset a password."
    )
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", parents=[storage], help="create an account; the password is the first line of standard input"
    )
    add.add_argument("name", help="username: 3 to 32 letters, digits, '_', '.' or '-'")
    add.set_defaults(handler=users_add)
    listing = actions.add_parser("list", parents=[storage], help="list accounts with their number of verdict logs")
    listing.set_defaults(handler=users_list)
    remove = actions.add_parser("remove", parents=[storage], help="delete an account and all its verdict logs")
    remove.add_argument("name", help="username")
    remove.set_defaults(handler=users_remove)
    set_password = actions.add_parser(
        "set-password",
        parents=[storage],
        help="replace a password (first line of standard input) and end the account's sessions",
    )
    set_password.add_argument("name", help="username")
    set_password.set_defaults(handler=users_set_password)


def _bounded_integer(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low} to {high}, not {value}")
        return value

    return parse


def _config(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options given on the command line, so the instance config and environment still apply."""
    options = {
        "INSTANCE_PATH": args.instance,
        "DATABASE": args.database,
        "HTTPS_COOKIES": getattr(args, "https_cookies", None),
        "REGISTRATION_OPEN": getattr(args, "registration_open", None),
        "ALLOWED_HOSTS": getattr(args, "allowed_hosts", None),
        "PROXY_HOPS": getattr(args, "proxy_hops", None),
    }
    return {key: value for key, value in options.items() if value is not None}


def serve_command(args: argparse.Namespace) -> int:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    app = _app(args)
    host = f"[{args.host}]" if ":" in args.host else args.host
    if not app.config["ALLOWED_HOSTS"]:
        if _is_loopback(args.host):
            app.config["ALLOWED_HOSTS"] = list(dict.fromkeys([*LOOPBACK_HOST_NAMES, host.lower()]))
        else:
            logger.warning(
                "%s is reachable from other machines and answers any Host name (a DNS-rebinding page could "
                "reach it): name the site with --allowed-host NAME",
                args.host,
            )
    _check_database(app.config)
    config = Config()
    config.bind = [f"{host}:{args.port}"]
    # A connection that sends nothing for this long is closed (hypercorn waits forever by default).
    config.read_timeout = READ_TIMEOUT_S
    # hypercorn's access log holds the request line and status: no cookies, no bodies.
    config.accesslog = "-" if args.access_log else None
    sockets = _listen(config, f"{host}:{args.port}")
    logger.info(
        "Unmask serving on http://%s:%s/%s",
        host,
        args.port,
        f" with {args.workers} processes" if args.workers > 1 else "",
    )
    if args.workers > 1:
        return _serve_in_processes(app, config, args.workers, sockets)
    try:
        asyncio.run(serve(app, config))
    finally:
        for bound in sockets:
            bound.detach()  # hypercorn closed the descriptor: this object must not close it (or a reuse) again
    return 0


def _serve_in_processes(app: Any, config: Any, workers: int, sockets: list[socket.socket]) -> int:
    """`workers` copies of this process (forked: each opens its own database connections when it starts
    serving) accept connections on the same listening socket; the kernel spreads the connections."""
    from hypercorn.asyncio import serve

    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=lambda: asyncio.run(serve(app, config)), name=f"unmask-worker-{number}")
        for number in range(workers)
    ]
    for process in processes:
        process.start()

    def stop(*_: Any) -> None:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: hypercorn finishes the requests in progress

    signal.signal(signal.SIGTERM, stop)
    try:
        multiprocessing.connection.wait([process.sentinel for process in processes])  # one ended: end all
    finally:
        stop()
        for process in processes:
            process.join()
        for bound in sockets:
            bound.close()
    failed = [process.name for process in processes if process.exitcode not in (0, -signal.SIGTERM)]
    if failed:
        raise UserFacingError(f"{', '.join(failed)} stopped unexpectedly (its log is above)")
    return 0


def _app(args: argparse.Namespace) -> Any:
    from unmask.server import create_app

    try:
        return create_app(_config(args))
    except OSError as error:  # the instance folder cannot be made or read
        raise UserFacingError(f"cannot use the instance folder: {error.strerror or error}: {error.filename}") from None


def _is_loopback(host: str) -> bool:
    """Whether every address `host` stands for is a loopback one, however written (127.1, ::ffff:127.0.0.1,
    localhost.)."""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UserFacingError(f"cannot listen on {host!r}: not an address or a known host name ({error})") from None
    return all(_loopback_address(address[4][0]) for address in found)


def _loopback_address(text: str) -> bool:
    address = ipaddress.ip_address(text.partition("%")[0])  # an IPv6 zone (fe80::1%eth0) is no part of it
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def _listen(config: Any, where: str) -> list[socket.socket]:
    """Binds the listening sockets here, so that a busy port or a refused address ends the command with one
    line instead of a traceback from inside the server; hypercorn (in each worker process) takes them over
    by their file descriptors."""
    try:
        sockets = config.create_sockets()
    except OSError as error:
        raise UserFacingError(f"cannot listen on {where}: {error.strerror or error}") from None
    bound = [*sockets.secure_sockets, *sockets.insecure_sockets]
    config.bind = [f"fd://{listening.fileno()}" for listening in bound]
    return bound


def _check_database(config: Any) -> None:
    """Opens (and migrates) the database before serving, so a bad path is one clear line."""

    async def open_and_close() -> None:
        await (await Database.open(config["DATABASE"], config["DATABASE_SYNCHRONOUS"])).close()

    try:
        asyncio.run(open_and_close())
    except (OSError, DatabaseError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise UserFacingError(f"cannot open the database {shown_target(config['DATABASE'])}: {reason}") from None


def _read_password(username: str) -> str:
    """The first line of standard input; at a terminal, typed twice without echo."""
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {username}: ")
        if password != getpass.getpass("Repeat it: "):
            raise UserFacingError("the two passwords differ")
    else:
        try:
            # Under a C locale Python reads undecodable bytes as lone surrogates instead of failing.
            password = sys.stdin.readline().rstrip("\r\n")
            password.encode("utf-8")
        except (UnicodeDecodeError, UnicodeEncodeError):
            raise UserFacingError("standard input is not UTF-8 text") from None
    if not password:
        raise UserFacingError("no password on standard input (give it as the first line)")
    if problem := password_problem(password, username):
        raise UserFacingError(problem)
    return password


def _with_database(args: argparse.Namespace, action: Callable[[Database, Passwords], Awaitable[int]]) -> int:
    config = _app(args).config
    _check_database(config)

    async def run() -> int:
        database = await Database.open(config["DATABASE"], config["DATABASE_SYNCHRONOUS"])
        try:
            return await action(database, Passwords(config))
        finally:
            await database.close()

    return asyncio.run(run())


async def _existing(database: Database, name: str) -> Any:
    row = await accounts.find_user(database, name)
    if row is None:
        raise UserFacingError(f"no account named {name!r}")
    return row


def users_add(args: argparse.Namespace) -> int:
    if problem := accounts.username_problem(args.name):
        raise UserFacingError(problem)
    password = _read_password(args.name)

    async def add(database: Database, passwords: Passwords) -> int:
        try:
            await accounts.create_user(database, args.name, await passwords.hash(password))
        except accounts.UsernameTaken:
            raise UserFacingError(f"an account named {args.name!r} already exists") from None
        print(f"added {args.name}")
        return 0

    return _with_database(args, add)


def users_list(args: argparse.Namespace) -> int:
    async def show(database: Database, _: Passwords) -> int:
        for row in await accounts.list_users(database):
            print(f"{row['username']}\tcreated {row['created_at']}\t{row['verdicts']} verdict logs")
        return 0

    return _with_database(args, show)


def users_remove(args: argparse.Namespace) -> int:
    async def remove(database: Database, _: Passwords) -> int:
        await accounts.delete_user(database, (await _existing(database, args.name))["id"])
        print(f"removed {args.name} and its verdict logs")
        return 0

    return _with_database(args, remove)


def users_set_password(args: argparse.Namespace) -> int:
    password = _read_password(args.name)

    async def set_password(database: Database, passwords: Passwords) -> int:
        row = await _existing(database, args.name)
        await accounts.set_password(database, row["id"], await passwords.hash(password))
        print(f"password of {args.name} replaced; its sessions have ended")
        return 0

    return _with_database(args, set_password)

"""A throw-away PostgreSQL cluster in a temporary folder, for the tests and the benchmarks.

Debian's `postgresql` package provides initdb and pg_ctl (under /usr/lib/postgresql/<version>/bin); no
system service is used. The server listens only on a Unix socket in the folder, runs as an unprivileged
user (`nobody` when this runs as root: PostgreSQL refuses to run as root) and trusts local connections.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

SUPERUSER = "unmask"
DATABASE = "postgres"
UNPRIVILEGED_USER = "nobody"
BINARY_FOLDERS = "/usr/lib/postgresql/*/bin"


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder (with initdb), or None."""
    found = sorted(Path(folder) for folder in glob.glob(BINARY_FOLDERS) if (Path(folder) / "initdb").exists())
    return found[-1] if found else None


class Cluster:
    """A running cluster; `new_database()` gives each user a fresh, empty place of its own: a schema, which
    costs a few milliseconds (a database of its own copies megabytes, which hundreds of tests add up)."""

    def __init__(self, folder: Path, bin_folder: Path) -> None:
        self.folder = folder
        self.bin_folder = bin_folder
        self._names = itertools.count(1)

    def new_database(self) -> str:
        """The URL of a new, empty schema: asyncpg sends the URL's search_path as a setting of each connection,
        so every table, collation and function the server creates lands there."""
        schema = f"test_{os.getpid()}_{next(self._names)}"
        self.psql(f"CREATE SCHEMA {schema}")
        return f"postgresql://{SUPERUSER}@/{DATABASE}?host={self.folder}&search_path={schema}"

    def psql(self, command: str) -> str:
        """Runs one SQL command; its output as unaligned text."""
        return subprocess.run(
            [
                str(self.bin_folder / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.folder),
                "-U",
                SUPERUSER,
                "-d",
                DATABASE,
                "-c",
                command,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout


def _as_unprivileged(command: list[str]) -> list[str]:
    return ["runuser", "-u", UNPRIVILEGED_USER, "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def running_cluster(durable: bool = False) -> Iterator[Cluster]:
    """Starts a cluster in a new temporary folder and removes it afterwards. Not `durable`: no fsync (a
    crash of this machine loses a test's data, nothing more), which makes creating databases fast."""
    bin_folder = binaries()
    if bin_folder is None:
        raise FileNotFoundError(
            f"no PostgreSQL server binaries in {BINARY_FOLDERS} (Debian: apt-get install postgresql)"
        )
    folder = Path(tempfile.mkdtemp(prefix="unmask-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chown(folder, account.pw_uid, account.pw_gid)
    data = folder / "data"
    settings = f"-c listen_addresses='' -k {folder} -c max_connections=200" + ("" if durable else " -c fsync=off")
    try:
        subprocess.run(
            _as_unprivileged(
                [
                    str(bin_folder / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            capture_output=True,
            cwd=folder,
        )
        subprocess.run(
            _as_unprivileged(
                [
                    str(bin_folder / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(folder / "server.log"),
                    "-o",
                    settings,
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            cwd=folder,
        )
    except subprocess.CalledProcessError as error:
        shutil.rmtree(folder, ignore_errors=True)
        log = folder / "server.log"
        raise RuntimeError(
            f"cannot start PostgreSQL: {error.stderr.decode(errors='replace')}{log.read_text() if log.exists() else ''}"
        ) from None
    try:
        yield Cluster(folder, bin_folder)
    finally:
        subprocess.run(
            _as_unprivileged([str(bin_folder / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            cwd=folder,
        )
        shutil.rmtree(folder, ignore_errors=True)

"""Fresh virtual environments with the project installed in them, and an `unmask serve` running from one."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 600


def fresh_venv(folder: Path, *pip_install_args: str) -> Path:
    """A new virtual environment in `folder` with `pip install <pip_install_args>` done: base dependencies only."""
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *pip_install_args],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    return venv


def run_in(
    venv: Path,
    *args: str,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]], input=stdin, capture_output=True, text=True, timeout=120, cwd=cwd
    )


def add_user(venv: Path, instance: Path, username: str, password: str) -> None:
    added = run_in(venv, "unmask", "users", "add", username, "--instance", str(instance), stdin=f"{password}\n")
    assert added.returncode == 0, added.stderr


@contextmanager
def serving(venv: Path, instance: Path, cwd: Path) -> Iterator[str]:
    """`unmask serve` from `venv`, started in `cwd`; yields its base URL once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    # Leaving the Popen context waits for the process and closes its stderr pipe.
    with subprocess.Popen(
        [str(venv / "bin" / "unmask"), "serve", "--port", str(port), "--instance", str(instance)],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as server:
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"{base}/api/session", timeout=2).close()
                    break
                except (urllib.error.URLError, ConnectionError):
                    assert server.poll() is None, server.stderr.read().decode()
                    time.sleep(0.3)
            yield base
        finally:
            server.terminate()

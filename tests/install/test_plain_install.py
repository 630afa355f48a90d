"""The plain install (`pip install -e .`, no extras) is the server: it must run without TensorFlow.

A fresh virtual environment gets only the project's base dependencies, then serves a page and the API.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("plain") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-e", str(PROJECT_ROOT)],
                   check=True, timeout=600)
    return venv


def run_in(venv: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], input=stdin, capture_output=True, text=True,
                          timeout=120)


def test_plain_install_has_no_tensorflow_numpy_or_pillow(plain_venv: Path) -> None:
    for module in ("tensorflow", "keras", "numpy", "PIL"):
        result = run_in(plain_venv, "python", "-c", f"import {module}")
        assert result.returncode != 0, f"{module} is installed by the plain install"


def test_training_commands_explain_the_missing_extra(plain_venv: Path, tmp_path: Path) -> None:
    result = run_in(plain_venv, "unmask", "train", "--data", str(tmp_path))
    assert result.returncode == 2
    assert "pip install -e '.[train]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_postgresql_database_explains_the_missing_extra(plain_venv: Path, tmp_path: Path) -> None:
    result = run_in(plain_venv, "unmask", "users", "list", "--instance", str(tmp_path),
                    "--database", "postgresql://unmask@localhost/unmask")
    assert result.returncode == 2
    assert "pip install 'unmask[postgres]'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def served(plain_venv: Path, tmp_path: Path) -> Iterator[str]:
    instance = tmp_path / "instance"
    added = run_in(plain_venv, "unmask", "users", "add", "alice", "--instance", str(instance),
                   stdin="correct horse battery\n")
    assert added.returncode == 0, added.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(plain_venv / "bin" / "unmask"), "serve", "--port", str(port),
                               "--instance", str(instance)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{base}/api/session", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stderr.read().decode()
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_plain_install_serves_the_app_and_api(served: str) -> None:
    with urllib.request.urlopen(f"{served}/api/session", timeout=5) as response:
        session = json.load(response)
    assert session["authenticated"] is False
    assert session["csrf_token"]
    with urllib.request.urlopen(f"{served}/login", timeout=5) as response:
        assert response.status == 200
        assert b"<form" in response.read()

"""The plain install (`pip install -e .`, no extras) is the server: it must run without TensorFlow.

A fresh virtual environment gets only the project's base dependencies, then serves a page and the API.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from install_support import PROJECT_ROOT, add_user, fresh_venv, run_in, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fresh_venv(tmp_path_factory.mktemp("plain"), "-e", str(PROJECT_ROOT))


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
    result = run_in(
        plain_venv,
        "unmask",
        "users",
        "list",
        "--instance",
        str(tmp_path),
        "--database",
        "postgresql://unmask@localhost/unmask",
    )
    assert result.returncode == 2
    assert "pip install 'unmask[postgres]'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def served(plain_venv: Path, tmp_path: Path) -> Iterator[str]:
    add_user(plain_venv, tmp_path / "instance", "alice", "correct horse battery")
    with serving(plain_venv, tmp_path / "instance", cwd=tmp_path) as base:
        yield base


def test_plain_install_serves_the_app_and_api(served: str) -> None:
    with urllib.request.urlopen(f"{served}/api/session", timeout=5) as response:
        session = json.load(response)
    assert session["authenticated"] is False
    assert session["csrf_token"]
    with urllib.request.urlopen(f"{served}/login", timeout=5) as response:
        assert response.status == 200
        assert b"<form" in response.read()

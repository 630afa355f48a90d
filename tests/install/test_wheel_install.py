"""`pip install <wheel>` into a fresh environment with no checkout in reach serves the whole browser app: the
pages, the vendored browser libraries and the shipped model travel inside the package."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from install_support import INSTALL_TIMEOUT_S, PROJECT_ROOT, add_user, fresh_venv, run_in, serving

from unmask.server.vendor_files import vendor_paths

pytestmark = pytest.mark.slow

WEB = PROJECT_ROOT / "web"
PASSWORD = "correct horse battery"


def build_wheel(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(source), "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = build_wheel(PROJECT_ROOT, out)
    assert built.returncode == 0, built.stderr
    [path] = out.glob("unmask-*.whl")
    return path


@pytest.fixture(scope="module")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fresh_venv(tmp_path_factory.mktemp("wheel"), str(wheel))


class Browser:
    """A signed-in HTTP client: the session cookie and the CSRF token the API asks for."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> bytes:
        with self.opener.open(f"{self.base}{path}", timeout=10) as response:
            assert response.status == 200, path
            return response.read()

    def log_in(self, username: str, password: str) -> None:
        token = json.loads(self.get("/api/session"))["csrf_token"]
        request = urllib.request.Request(
            f"{self.base}/api/login",
            data=json.dumps({"username": username, "password": password}).encode(),
            headers={"Content-Type": "application/json", "X-CSRF-Token": token},
            method="POST",
        )
        with self.opener.open(request, timeout=30) as response:
            assert response.status == 200


@pytest.fixture
def browser(wheel_venv: Path, tmp_path: Path) -> Iterator[Browser]:
    """Signed in to a server run from the wheel's environment, started in an empty folder."""
    instance = tmp_path / "instance"
    add_user(wheel_venv, instance, "alice", PASSWORD)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with serving(wheel_venv, instance, cwd=elsewhere) as base:
        client = Browser(base)
        client.log_in("alice", PASSWORD)
        yield client


def test_the_installed_package_is_not_the_checkout(wheel_venv: Path, tmp_path: Path) -> None:
    result = run_in(wheel_venv, "python", "-c", "import unmask; print(unmask.WEB_ROOT)", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(wheel_venv)


def test_every_page_is_served(browser: Browser) -> None:
    # A server that looked for web/ beside its source answered 404 here.
    for path in ("/", "/video", "/history", "/account", "/login"):
        assert b"</html>" in browser.get(path), path


def test_vendored_browser_libraries_are_served(browser: Browser) -> None:
    served = browser.get("/vendor/tfjs/tf.min.js")
    assert served == (WEB / "node_modules/@tensorflow/tfjs/dist/tf.min.js").read_bytes()


def test_the_shipped_model_is_served(browser: Browser) -> None:
    for path in sorted((WEB / "model").iterdir()):
        assert browser.get(f"/model/{path.name}") == path.read_bytes(), path.name


def test_the_wheel_carries_only_the_served_files_of_node_modules(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name.removeprefix("unmask/web/") for name in archive.namelist() if "/node_modules/" in name}
    assert shipped == set(vendor_paths())


def test_a_wheel_build_without_npm_ci_stops_with_the_remedy(tmp_path: Path) -> None:
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    checkout = tmp_path / "checkout"
    for name in filter(None, listed):
        source, copy = PROJECT_ROOT / name, checkout / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            copy.symlink_to(source.readlink())
        elif source.is_file():
            copy.write_bytes(source.read_bytes())
    built = build_wheel(checkout, tmp_path / "dist")
    assert built.returncode != 0
    assert "run `npm ci --prefix web` first" in built.stdout + built.stderr

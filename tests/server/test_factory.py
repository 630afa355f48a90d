"""The application factory: configuration layers, the secret key, and the plain install."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from unmask.server import create_app


async def test_defaults(config: dict[str, Any]) -> None:
    app = create_app({"INSTANCE_PATH": config["INSTANCE_PATH"]})
    assert app.config["REGISTRATION_OPEN"] is False
    assert app.config["HTTPS_COOKIES"] is False
    assert app.config["WEB_ROOT"].endswith("web") and app.config["MODEL_DIR"].endswith("model")


async def test_configuration_layers(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    instance = Path(config["INSTANCE_PATH"])
    instance.mkdir(parents=True)
    (instance / "config.py").write_text("MAX_VERDICTS_PER_ACCOUNT = 7\nHTTPS_COOKIES = True\nBACKEND_NOTE = 'file'\n")
    monkeypatch.setenv("UNMASK_HTTPS_COOKIES", "false")
    monkeypatch.setenv("UNMASK_BACKEND_NOTE", "env")
    app = create_app({"INSTANCE_PATH": str(instance), "BACKEND_NOTE": "explicit"})
    assert app.config["MAX_VERDICTS_PER_ACCOUNT"] == 7  # instance file over defaults
    assert app.config["HTTPS_COOKIES"] is False  # environment over instance file
    assert app.config["BACKEND_NOTE"] == "explicit"  # explicit dict over everything


async def test_secret_key_generated_once_owner_only(config: dict[str, Any]) -> None:
    first = create_app(config).secret_key
    key_file = Path(config["INSTANCE_PATH"]) / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first) >= 64
    assert create_app(config).secret_key == first


async def test_secret_key_from_environment(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNMASK_SECRET_KEY", "k" * 40)
    assert create_app(config).secret_key == "k" * 40
    assert not (Path(config["INSTANCE_PATH"]) / "secret_key").exists()


async def test_server_runs_without_tensorflow_numpy_or_pillow(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        for name in ("tensorflow", "numpy", "PIL", "keras", "tensorflowjs"):
            sys.modules[name] = None  # any import of these now fails
        from unmask.server import create_app

        async def main():
            app = create_app({"INSTANCE_PATH": sys.argv[1], "ARGON2_MEMORY_COST_KIB": 256})
            async with app.test_app():
                response = await app.test_client().get("/api/session")
                print(response.status_code)

        asyncio.run(main())
        """
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith("UNMASK_")}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "instance")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env=environment,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "200"

"""Fixtures: a fresh instance folder, database and web root per test."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol
from server_support import AuthActions

from unmask.contract import POLICY
from unmask.server import create_app
from unmask.server.db import POSTGRESQL, SQLITE, Database

# A minimal layout with the real one's contract: the signed-in pages get `nav` and `current_path`.
FAKE_LAYOUT = (
    "<!doctype html><title>{% block title %}{% endblock %}</title>"
    '{% for item in nav or [] %}<a href="{{ item.path }}"{% if item.path == current_path %} aria-current="page"'
    "{% endif %}>{{ item.label }}</a>{% endfor %}"
)
WEB_FILES = {
    "templates/layout.html": FAKE_LAYOUT,
    **{
        f"templates/{name}.html": f'{{% extends "layout.html" %}}{{% block title %}}{title}{{% endblock %}}'
        for name, title in [
            ("index", "analyser"),
            ("video", "video"),
            ("history", "history"),
            ("account", "account"),
            ("login", "login"),
            ("register", "register"),
        ]
    },
    "sw.js": "self.addEventListener('fetch', () => {});",
    "manifest.webmanifest": '{"name": "Unmask"}',
    "css/app.css": "body { margin: 0 }",
    "js/app.js": "console.log('app');",
    "node_modules/@tensorflow/tfjs/dist/tf.min.js": "/* tf */",
    "node_modules/@tensorflow/tfjs/dist/tf.js": "/* not whitelisted */",
    "node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm": "\0asm",
    "node_modules/@vladmandic/human/models/blazeface.json": "{}",
    "node_modules/@vladmandic/human/models/blazeface.bin": "weights",
    "node_modules/exifr/dist/full.esm.mjs": "/* exifr */",
    "node_modules/exifr/dist/full.umd.js": "/* not whitelisted */",
    "node_modules/@contentauth/c2pa-wasm/pkg/c2pa.js": "/* c2pa */",
    "node_modules/@contentauth/c2pa-wasm/pkg/c2pa_bg.wasm": "\0asm",
    "model/model.json": '{"format": "layers-model", "weightsManifest": []}',
    "model/metadata.json": json.dumps(POLICY.card_fields()),
    "model/group1-shard1of1.bin": "\1\2\3\4",
}


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    for name, content in WEB_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses a database runs on both engines, unless it is marked `sqlite_only` (it tests
    the SQLite file itself)."""
    if "engine" in metafunc.fixturenames:
        sqlite_only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("engine", [SQLITE] if sqlite_only else [SQLITE, POSTGRESQL])


@pytest.fixture
def database_target(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of the engine under test: a SQLite file path or a PostgreSQL URL."""
    if engine == POSTGRESQL:
        return request.getfixturevalue("postgres_cluster").new_database()
    return str(tmp_path / "db.sqlite3")


@pytest.fixture
async def database(database_target: str) -> AsyncIterator[Database]:
    """That database opened (and migrated), without an app."""
    opened = await Database.open(database_target)
    yield opened
    await opened.close()


@pytest.fixture
def config(
    engine: str, database_target: str, tmp_path: Path, web_root: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Settings for a test app; a test may change them before using the `app` fixture. On SQLite the
    database is the default one, in the instance folder."""
    for name in [name for name in os.environ if name.startswith("UNMASK_")]:
        monkeypatch.delenv(name)
    return {
        **({"DATABASE": database_target} if engine == POSTGRESQL else {}),
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "WEB_ROOT": str(web_root),
        "MODEL_DIR": str(web_root / "model"),
        "REGISTRATION_OPEN": True,
        # Cheap argon2id so the suite runs quickly; production uses the defaults.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST_KIB": 256,
        "ARGON2_PARALLELISM": 1,
    }


@pytest.fixture
async def app(config: dict[str, Any]) -> AsyncIterator[Quart]:
    app = create_app(config)
    async with app.test_app():  # runs the start-up hooks: the database opens and migrates
        yield app


@pytest.fixture
def client(app: Quart) -> TestClientProtocol:
    return app.test_client()


@pytest.fixture
def auth(client: TestClientProtocol) -> AuthActions:
    return AuthActions(client)

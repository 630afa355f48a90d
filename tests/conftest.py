"""Settings for the whole suite."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
from postgres_cluster import Cluster, binaries, running_cluster

# tensorflow-decision-forests (pulled in by tensorflowjs) imports IPython for a welcome banner when output
# is captured, which fails; TensorFlow's C++ start-up chatter drowns real failures.
os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Faces found in test pictures are cached for this run only, never in the user's cache.
os.environ.setdefault("UNMASK_FACE_CACHE", tempfile.mkdtemp(prefix="unmask-faces-"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running on the main thread until the
    session ends, and the asyncio tests (the server's) cannot start their own loop beside it."""
    items.sort(key=lambda item: "e2e" in item.path.parts)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """One throw-away PostgreSQL cluster for the whole run (each test takes a fresh schema of it).

    Without PostgreSQL's binaries the PostgreSQL runs fail in CI (CI=true), which must test both
    engines, and are skipped elsewhere, saying why."""
    if binaries() is None:
        reason = "PostgreSQL is not installed (Debian: apt-get install postgresql); its half of the suite did not run"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason)
        pytest.skip(reason)
    with running_cluster() as cluster:
        yield cluster

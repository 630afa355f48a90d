"""The shipped model (`models/unmasknet`, exported to `web/model/`) on real faces from its own test split.

Needs the shared data set next to the repository (`../shared/data`); skipped with a reason when it is absent.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
RUN_DIR = REPO_ROOT / "models" / "unmasknet"
WEB_MODEL = REPO_ROOT / "web" / "model"
SAMPLE_SIZE = 100
SAMPLE_SEED = 20261125


def test_web_model_files_match_the_hashes_in_metadata() -> None:
    metadata = json.loads((WEB_MODEL / "metadata.json").read_text())
    assert metadata["files"], "metadata.json lists no files"
    for name, digest in metadata["files"].items():
        assert hashlib.sha256((WEB_MODEL / name).read_bytes()).hexdigest() == digest, name
    on_disk = {p.name for p in WEB_MODEL.iterdir() if p.is_file() and p.name not in ("metadata.json", "README.md")}
    assert on_disk == set(metadata["files"])


@pytest.fixture(scope="module")
def shipped():
    if not (SHARED_DATA / "ffhq-stylegan2").is_dir():
        pytest.skip(f"shared data set not found at {SHARED_DATA / 'ffhq-stylegan2'}")
    pytest.importorskip("keras")
    from training.data import CLASS_NAMES, Sample
    from training.evaluate import load_browser_twin

    recorded = json.loads((RUN_DIR / "split.json").read_text())["test"]
    chosen = np.random.default_rng(SAMPLE_SEED).choice(len(recorded), SAMPLE_SIZE, replace=False)
    samples = [Sample(RUN_DIR / recorded[i]["path"], CLASS_NAMES.index(recorded[i]["label"])) for i in sorted(chosen)]
    missing = [s.path for s in samples if not s.path.is_file()]
    if missing:
        pytest.skip(f"{len(missing)} test-split files missing below {SHARED_DATA}, e.g. {missing[0]}")
    model, _ = load_browser_twin(RUN_DIR)
    return model, samples


def _accuracy(shipped, recode=None) -> float:
    from training.data import decode_images
    from training.evaluate import predict

    model, samples = shipped
    decoded = decode_images(samples, for_training=False, recode=recode)
    assert len(decoded) == len(samples), decoded.skipped
    return float(np.mean((predict(model, decoded.images) >= 0.5) == decoded.labels))


@pytest.fixture(scope="module")
def original_accuracy(shipped) -> float:
    return _accuracy(shipped)


def test_sample_holds_both_classes(shipped) -> None:
    labels = [s.label for s in shipped[1]]
    assert 30 <= sum(labels) <= 70


def test_shipped_model_is_accurate_on_its_test_split(original_accuracy) -> None:
    assert original_accuracy >= 0.75


@pytest.mark.parametrize("format_name, quality", [("JPEG", 75), ("JPEG", 95), ("PNG", None)],
                         ids=["jpeg-q75", "jpeg-q95", "png"])
def test_reencoding_does_not_move_accuracy(shipped, original_accuracy, format_name, quality) -> None:
    # If the model had learned "JPEG = fake", re-encoding every test image alike would change its accuracy.
    from training.data import reencoder

    reencoded = _accuracy(shipped, reencoder(format_name, quality))
    assert abs(reencoded - original_accuracy) <= 0.03, (reencoded, original_accuracy)

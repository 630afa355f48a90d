"""The shipped model (`models/npr`, exported to `web/model/`) on real faces from its own test split, and the
bias probes: re-saving or resizing the test faces must not move their scores.

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
RUN_DIR = REPO_ROOT / "models" / "npr"
WEB_MODEL = REPO_ROOT / "web" / "model"
PER_GROUP = 24  # test faces per real source and per generator
SAMPLE_SEED = 20261126
# A re-saved or resized face may move a little; the verdicts of the sample as a whole must not.
MAX_MEAN_SHIFT = 0.05
MAX_ACCURACY_CHANGE = 0.05


def test_web_model_files_match_the_hashes_in_metadata() -> None:
    metadata = json.loads((WEB_MODEL / "metadata.json").read_text())
    assert metadata["files"], "metadata.json lists no files"
    for name, digest in metadata["files"].items():
        assert hashlib.sha256((WEB_MODEL / name).read_bytes()).hexdigest() == digest, name
    on_disk = {p.name for p in WEB_MODEL.iterdir() if p.is_file() and p.name not in ("metadata.json", "README.md")}
    assert on_disk == set(metadata["files"])


def test_model_card_states_the_rate_of_every_real_source_and_generator_in_words() -> None:
    card = json.loads((WEB_MODEL / "metadata.json").read_text())["operating_point"]
    assert card["rule"] == "probability >= 0.5 means deepfake"
    real = {entry["source"] for entry in card["real_sources"]}
    generators = {entry["source"] for entry in card["generators"]}
    assert {"ffhq-stylegan2", "utkface", "lfw-faceswap", "crossval-stylegan"} <= real
    assert {"ffhq-stylegan2", "lfw-faceswap", "generated-photos", "sfhq-t2i-sdxl", "crossval-stylegan"} <= generators
    for entry in card["real_sources"]:
        assert entry["text"].startswith("Flags ") and entry["source"] in entry["text"]
    for entry in card["generators"]:
        assert entry["text"].startswith("Catches ") and entry["source"] in entry["text"]


@pytest.fixture(scope="module")
def shipped():
    if not (SHARED_DATA / "ffhq-stylegan2").is_dir():
        pytest.skip(f"shared data set not found at {SHARED_DATA}")
    pytest.importorskip("keras")
    from unmask.training.evaluate import load_browser_twin
    from unmask.training.run_folder import RunFolder

    samples = RunFolder(RUN_DIR).read_split("test")
    if not samples:
        pytest.skip(f"the test split's files are missing below {SHARED_DATA}")
    rng = np.random.default_rng(SAMPLE_SEED)
    chosen = []
    for group in sorted({s.group for s in samples}):
        members = [s for s in samples if s.group == group]
        chosen += [members[i] for i in sorted(rng.choice(len(members), min(PER_GROUP, len(members)), replace=False))]
    model, _ = load_browser_twin(RUN_DIR)
    return model, chosen


def _scores(shipped, recode=None) -> tuple[np.ndarray, np.ndarray]:
    from unmask.training.data import decode_images
    from unmask.training.evaluate import predict

    model, samples = shipped
    decoded = decode_images(samples, for_training=False, recode=recode)
    assert len(decoded) == len(samples), decoded.skipped
    return predict(model, decoded.images), decoded.labels


@pytest.fixture(scope="module")
def original(shipped) -> tuple[np.ndarray, np.ndarray]:
    return _scores(shipped)


def test_sample_holds_every_source_and_both_classes(shipped) -> None:
    groups = {s.group for s in shipped[1]}
    assert len(groups) == 7


def test_shipped_model_ranks_its_test_faces_well(original) -> None:
    from unmask.training.metrics import binary_metrics

    scores, labels = original
    assert binary_metrics(labels, scores)["roc_auc"] >= 0.85


@pytest.mark.parametrize(
    "format_name, quality, scale",
    [("JPEG", 75, 1), ("JPEG", 95, 1), ("PNG", None, 1), ("JPEG", 90, 4)],
    ids=["jpeg-q75", "jpeg-q95", "png", "4x-larger-jpeg-q90"],
)
def test_resaving_or_resizing_does_not_move_the_scores(shipped, original, format_name, quality, scale) -> None:
    # If the model had learned a source's or a class's file history, giving every face the same new one
    # would move its scores and its verdicts.
    from unmask.training.data import reencoder

    scores, labels = original
    probed, _ = _scores(shipped, reencoder(format_name, quality, scale=scale))
    assert abs(float(np.mean(probed - scores))) <= MAX_MEAN_SHIFT
    before, after = (float(np.mean((p >= 0.5) == labels)) for p in (scores, probed))
    assert abs(after - before) <= MAX_ACCURACY_CHANGE, (after, before)

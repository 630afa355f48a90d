"""Evaluation of a training run's model, exactly as browsers run it.

The model evaluated is the calibrated Keras twin of the exported browser model (`models.calibrated` with the
run's Platt calibration); `tests/converter` proves the browser model matches it within 1e-3. Images go through
the shared preprocessing, with no history equalisation: files are judged as they are.

Besides any folders given, the run's own test split is evaluated per source, and as a whole as stored and
re-encoded (JPEG q75, q95, PNG, and enlarged 4x as JPEG q90): if accuracy moves with the file format, the
model has learned the format, not the faces; the enlarged copy shows how much the score depends on the
picture's resolution. Each source is also judged re-framed: every face on a square a little smaller than its
crop (never smaller than the input), at a random place inside it. A face in a user's photo is never framed
exactly as in the source file: the re-framed rows show how much the rates depend on that framing.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import keras
import numpy as np

from unmask import UserFacingError
from unmask.contract import POLICY
from unmask.training.calibration import Calibration
from unmask.training.data import DecodedImages, Recode, Sample, decode_images, find_samples, reencoder
from unmask.training.faces import face_crops
from unmask.training.models import calibrated
from unmask.training.preprocessing import INPUT_SIZE, Box, ImageDecodeError, centre_square_box, open_rgb
from unmask.training.report import summary_line, write_report
from unmask.training.run_folder import RunFolder

# The re-framed probe: a square of this share of the crop's side, at a random place inside the crop.
REFRAMED_SIDE = (0.9, 0.99)

REENCODINGS: dict[str, Recode] = {
    "JPEG q75": reencoder("JPEG", 75),
    "JPEG q95": reencoder("JPEG", 95),
    "PNG": reencoder("PNG"),
    "4x larger, JPEG q90": reencoder("JPEG", 90, scale=4),
}


def load_browser_twin(run_dir: Path) -> tuple[keras.Model, dict[str, Any]]:
    """The run's model with its calibration, i.e. the Keras twin of the exported browser model."""
    folder = RunFolder(run_dir)
    run = folder.read_run()
    return calibrated(folder.load_model(), Calibration.of_run(run)), run


def predict(model: keras.Model, images: list[np.ndarray]) -> np.ndarray:
    if not images:
        return np.zeros(0)
    outputs = model.predict(np.stack(images), batch_size=64, verbose=0)
    return np.asarray(outputs["probability"], dtype=np.float64).reshape(-1)


def evaluate(run_dir: Path, data_dirs: list[Path], out_dir: Path, test_split: bool = True) -> dict[str, Any]:
    """Evaluate on each folder of `data_dirs` (and the run's test split), write the report to `out_dir`."""
    model, run = load_browser_twin(run_dir)
    test_samples = RunFolder(run_dir).read_split("test") if test_split else []
    folders = {Path(data_dir).name: find_samples(data_dir, require_both_classes=False) for data_dir in data_dirs}
    if not test_samples and not folders:
        raise UserFacingError("nothing to evaluate: give --data folders, or a run with a recorded test split")
    # Judged as the browser judges them: each picture's face crop (the same detector and crop).
    crops, faces_found = face_crops(s.path for s in [*test_samples, *(s for f in folders.values() for s in f)])
    sets = test_split_sets(test_samples, run, crops)
    for folder, samples in folders.items():
        sets[folder] = decode_images(samples, for_training=False, crops=crops)

    results = {
        name: {
            "labels": decoded.labels,
            "probabilities": predict(model, decoded.images),
            "paths": decoded.paths,
            "skipped": decoded.skipped,
            "threshold": POLICY.threshold,
        }
        for name, decoded in sets.items()
    }
    report = write_report(
        out_dir,
        results,
        run.get("history"),
        {
            "run": str(run_dir),
            "architecture": run["architecture"],
            "parameters": run.get("parameters"),
            "calibration": run["calibration"],
            "config": run.get("config"),
            "faces_found": faces_found,
        },
    )
    for name, folder_report in report["folders"].items():
        print(summary_line(name, folder_report["metrics"]), flush=True)
    return report


def test_split_sets(test_samples: list[Sample], run: dict[str, Any], crops: dict[str, Any]) -> dict[str, DecodedImages]:
    """The run's test split per source ("utkface/test"), and, with several sources, as a whole; then the whole
    split re-encoded (the bias probes). Each picture is judged on its face crop."""
    if not test_samples:
        return {}
    by_source = {
        f"{source or Path(run['data']['train_folder']).name}/test": [s for s in test_samples if s.source == source]
        for source in sorted({s.source for s in test_samples})
    }
    sets = {name: decode_images(samples, for_training=False, crops=crops) for name, samples in by_source.items()}
    whole = next(iter(sets)) if len(by_source) == 1 else "test split, all sources"
    if len(by_source) > 1:
        sets[whole] = decode_images(test_samples, for_training=False, crops=crops)
    for label, recode in REENCODINGS.items():
        sets[f"{whole} ({label})"] = decode_images(test_samples, for_training=False, recode=recode, crops=crops)
    moved = reframed(test_samples, crops)
    for name, samples in by_source.items():
        sets[f"{name} (re-framed)"] = decode_images(samples, for_training=False, crops=moved)
    return sets


def reframed(samples: list[Sample], crops: dict[str, Box | None]) -> dict[str, Box]:
    """Each picture's crop (its face's, or the centre square) shrunk to REFRAMED_SIDE of its side, never below the
    input (the page judges no enlarged face), and moved to a random place inside it; the same for a file on
    every run (seeded by its name)."""
    moved = {}
    for sample in samples:
        key = str(sample.path)
        try:
            box = crops.get(key) or centre_square_box(*open_rgb(sample.path).size)
        except ImageDecodeError:
            continue  # undecodable: decode_images reports it
        rng = np.random.default_rng(zlib.crc32(sample.path.name.encode()))
        side = max((box[2] - box[0]) * rng.uniform(*REFRAMED_SIDE), min(box[2] - box[0], INPUT_SIZE))
        left = box[0] + rng.uniform(0, box[2] - box[0] - side)
        top = box[1] + rng.uniform(0, box[3] - box[1] - side)
        moved[key] = (left, top, left + side, top + side)
    return moved

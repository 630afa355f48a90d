"""A training run folder: everything needed to repeat, evaluate and export one run, and the only code that
knows its layout.

    model.keras   the trained Keras model (uncalibrated; the calibration is in run.json)
    run.json      config, augmentation settings, data summary, history, calibration, validation metrics, and
                  what made it: the code revision and the package versions
    split.json    the exact files of each split, as paths relative to the folder
    report/       the evaluation report (report.json, report.md, plots)

Folders written before the augmentation and provenance records existed (models/npr, models/compare/*,
models/loso/*) read the same: nothing here requires those records.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unmask import UserFacingError
from unmask.training.data import CLASS_NAMES, Sample

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
SPLIT_FILE = "split.json"
MODEL_FILE = "model.keras"
REPORT_DIR = "report"
REPORT_FILE = "report.json"
# The packages whose versions decide what a run computes.
RECORDED_PACKAGES = ("unmask", "tensorflow", "keras", "numpy", "pillow", "tensorflowjs")
UNKNOWN_REVISION = "unknown"
SOURCE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @property
    def run_file(self) -> Path:
        return self.path / RUN_FILE

    @property
    def split_file(self) -> Path:
        return self.path / SPLIT_FILE

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def report_dir(self) -> Path:
        return self.path / REPORT_DIR

    def require_trained(self) -> None:
        """A clear error unless the folder holds a trained model and its record."""
        if not self.run_file.is_file() or not self.model_file.is_file():
            raise UserFacingError(f"{self.path} is not a training run folder (needs {RUN_FILE} and {MODEL_FILE})")

    def read_run(self) -> dict[str, Any]:
        """The run's record; a study's folders (models/compare/*, models/loso/*) keep it without the model."""
        if not self.run_file.is_file():
            raise UserFacingError(f"{self.path} is not a training run folder (no {RUN_FILE})")
        return _read_json(self.run_file)

    def write_run(self, run: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.run_file.write_text(json.dumps(run, indent=2, allow_nan=False))

    def load_model(self) -> keras.Model:
        import keras

        self.require_trained()
        return keras.saving.load_model(self.model_file)

    def save_model(self, model: keras.Model) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        model.save(self.model_file)

    def relative(self, path: Path) -> str:
        """`path` relative to the folder: the record holds no machine's paths and survives moving both."""
        return os.path.relpath(Path(path).resolve(), self.path.resolve())

    def write_split(self, splits: dict[str, list[Sample]]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.split_file.write_text(
            json.dumps(
                {
                    name: [
                        {"path": self.relative(s.path), "label": CLASS_NAMES[s.label], "source": s.source}
                        for s in samples
                    ]
                    for name, samples in splits.items()
                },
                indent=1,
            )
        )

    def read_split(self, name: str) -> list[Sample]:
        """The files of one split ("train", "val", "test") that the run recorded; [] when any is missing."""
        if not self.split_file.is_file():
            return []
        recorded = _read_json(self.split_file).get(name, [])
        samples = [
            Sample(self.path / entry["path"], CLASS_NAMES.index(entry["label"]), entry.get("source", ""))
            for entry in recorded
        ]
        missing = [sample.path for sample in samples if not sample.path.is_file()]
        if missing:
            logger.warning(
                "%s split: %d recorded files are missing, e.g. %s; skipping it", name, len(missing), missing[0]
            )
            return []
        return samples

    def read_report(self) -> dict[str, Any] | None:
        """The evaluation report `unmask evaluate` wrote into the folder, if any."""
        report_file = self.report_dir / REPORT_FILE
        return _read_json(report_file) if report_file.is_file() else None


def provenance() -> dict[str, Any]:
    """What made a run, for its record: the code revision and the versions of the packages that compute it."""
    return {
        "code_revision": code_revision(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in RECORDED_PACKAGES},
    }


def code_revision() -> str:
    """`git describe` of the source (a checkout), else "unknown" (an installed package, or no git)."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=SOURCE_DIR,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return UNKNOWN_REVISION
    return described.stdout.strip() if described.returncode == 0 and described.stdout.strip() else UNKNOWN_REVISION


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UserFacingError(f"{path} is not valid JSON: {error}") from None

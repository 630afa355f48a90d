"""Prove that the browser model gives the same numbers as the Python one.

The exported TensorFlow.js graph model is run in Node by `converter/tfjs_predict.mjs`, on the very
`web/node_modules` files the server ships (wasm backend by default, as in the browser; `cpu` for a
second opinion), and compared with the Keras model it was exported from, the run's browser twin
(`training.evaluate.load_browser_twin`: `calibrated(model, Calibration.of_run(run))`, i.e. probability =
sigmoid(scale * logit + offset)), on the same preprocessed inputs. The converter folds BatchNorm into convolutions, reorders
operations and the wasm kernels (XNNPACK) sum in another order, so the numbers are never bit-identical;
they must agree within a tolerance (1e-3 on the probability by default).

    from unmask.converter.parity import check_parity
    result = check_parity(run_dir, Path("web/model"), images)   # images: float32 [N, 128, 128, 3]
    print(result.summary()); assert result.passed

`verify_export(run_dir, model_dir, sample_images)` is the post-step of `unmask export`: it raises
`UserFacingError` when the exported model does not match.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unmask import WEB_ROOT, UserFacingError
from unmask.training.calibration import Calibration
from unmask.training.preprocessing import INPUT_SIZE

PREDICT_SCRIPT = Path(__file__).resolve().parent / "tfjs_predict.mjs"
REQUIRED_NODE_PACKAGES = ("@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm")
INPUT_SHAPE = (INPUT_SIZE, INPUT_SIZE, 3)
DEFAULT_TOLERANCE = 1e-3
BACKENDS = ("wasm", "cpu")
NODE_TIMEOUT_S = 600
KERAS_BATCH = 8


@dataclass(frozen=True)
class ParityResult:
    """Keras vs browser on the same inputs. Differences are max |keras - browser| over all images/values."""

    passed: bool
    n_images: int
    backend: str
    tolerance: float
    calibration: Calibration
    max_abs_diff_probability: float
    max_abs_diff_evidence: float | None  # None when the architecture has no evidence map
    keras_probability: np.ndarray = field(repr=False)
    browser_probability: np.ndarray = field(repr=False)
    problems: tuple[str, ...] = ()

    def summary(self) -> str:
        evidence = "n/a" if self.max_abs_diff_evidence is None else f"{self.max_abs_diff_evidence:.3g}"
        verdict = "passed" if self.passed else "FAILED"
        calibration = f"scale={self.calibration.scale:g}, offset={self.calibration.offset:g}"
        text = (
            f"parity {verdict} on {self.n_images} images ({self.backend} backend, {calibration}): "
            f"max |diff| probability {self.max_abs_diff_probability:.3g}, evidence {evidence} "
            f"(tolerance {self.tolerance:g})"
        )
        return text + "".join(f"\n  - {problem}" for problem in self.problems)


def browser_predictions(model_dir: Path, images: np.ndarray, backend: str = "wasm") -> dict[str, np.ndarray]:
    """Run the exported graph model in `model_dir` on `images` (float32 [N, 128, 128, 3]) in Node.

    Returns {"probability": [N], "evidence": [N, regions] (if the model has it)} as float64 arrays, plus
    nothing else; the backend actually used is checked to be the one asked for.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    images = _as_batch(images)
    node = _require_node()
    model_dir = Path(model_dir)
    for name in ("model.json", "metadata.json"):
        if not (model_dir / name).is_file():
            raise UserFacingError(f"{model_dir / name} not found: is {model_dir} an exported model folder?")

    with tempfile.TemporaryDirectory(prefix="unmask-parity-") as scratch:
        input_file = Path(scratch) / "input.f32"
        images.astype("<f4", copy=False).tofile(input_file)
        command = [node, str(PREDICT_SCRIPT), str(model_dir), str(input_file), str(len(images)), "--backend", backend]
        try:
            completed = subprocess.run(command, capture_output=True, text=True, timeout=NODE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise UserFacingError(f"the browser model did not finish within {NODE_TIMEOUT_S} s in Node") from None
    if completed.returncode == 3:  # the script's code for "libraries missing"
        raise UserFacingError(completed.stderr.strip())
    if completed.returncode != 0:
        raise UserFacingError(
            f"running the browser model in Node failed (exit {completed.returncode}):\n{completed.stderr[-2000:]}"
        )
    try:
        payload = json.loads(completed.stdout)
    except json.JSONDecodeError as error:
        raise UserFacingError(f"tfjs_predict.mjs printed no JSON ({error}): {completed.stdout[:500]!r}") from None
    if payload.get("backend") != backend:
        raise UserFacingError(f"asked for the {backend} backend, Node ran {payload.get('backend')!r}")
    return _outputs(payload, len(images))


def keras_predictions(run_dir: Path, images: np.ndarray) -> tuple[dict[str, np.ndarray], Calibration]:
    """The Python side: the run's browser twin (`training.evaluate.load_browser_twin`), and its calibration."""
    from unmask.training.evaluate import load_browser_twin

    model, run = load_browser_twin(Path(run_dir))
    outputs = model.predict(_as_batch(images), batch_size=KERAS_BATCH, verbose=0)
    return _outputs(outputs, len(images)), Calibration.of_run(run)


def _outputs(raw: dict, count: int) -> dict[str, np.ndarray]:
    """A model's outputs for `count` images as float64: probability [N], and evidence [N, regions] if any."""
    result = {"probability": np.asarray(raw["probability"], dtype=np.float64).reshape(count)}
    if "evidence" in raw:
        result["evidence"] = np.asarray(raw["evidence"], dtype=np.float64).reshape(count, -1)
    return result


def check_parity(
    run_dir: Path,
    model_dir: Path,
    images: np.ndarray,
    tolerance: float = DEFAULT_TOLERANCE,
    backend: str = "wasm",
    evidence_tolerance: float | None = None,
) -> ParityResult:
    """Compare the Keras model of `run_dir` with the exported browser model in `model_dir` on `images`.

    Passes when the probability (and the evidence map, if any; `evidence_tolerance` defaults to
    `tolerance`) agree within the tolerance on every image, nothing is NaN, and the model folder
    was exported with the run's calibration (metadata.json's scale and offset).
    """
    images = _as_batch(images)
    evidence_tolerance = tolerance if evidence_tolerance is None else evidence_tolerance
    expected, calibration = keras_predictions(Path(run_dir), images)
    actual = browser_predictions(Path(model_dir), images, backend=backend)
    problems: list[str] = []

    diff_probability = _max_abs_diff(expected["probability"], actual["probability"])
    if not diff_probability <= tolerance:
        worst = int(np.nanargmax(np.abs(expected["probability"] - actual["probability"])))
        problems.append(
            f"probability differs by {diff_probability:.3g} > {tolerance:g} (worst image #{worst}: "
            f"keras {expected['probability'][worst]:.6f}, browser {actual['probability'][worst]:.6f})"
        )

    diff_evidence: float | None = None
    if "evidence" in expected or "evidence" in actual:
        if "evidence" not in expected or "evidence" not in actual:
            problems.append("the evidence map is in only one of the two models")
            diff_evidence = float("nan")
        else:
            diff_evidence = _max_abs_diff(expected["evidence"], actual["evidence"])
            if not diff_evidence <= evidence_tolerance:
                problems.append(f"evidence map differs by {diff_evidence:.3g} > {evidence_tolerance:g}")

    exported = _exported_calibration(Path(model_dir))
    if not (np.isclose(exported.scale, calibration.scale) and np.isclose(exported.offset, calibration.offset)):
        problems.append(
            f"metadata.json says calibration scale {exported.scale:g}, offset {exported.offset:g}; "
            f"the run says scale {calibration.scale:g}, offset {calibration.offset:g}"
        )

    return ParityResult(
        passed=not problems,
        n_images=len(images),
        backend=backend,
        tolerance=tolerance,
        calibration=calibration,
        max_abs_diff_probability=diff_probability,
        max_abs_diff_evidence=diff_evidence,
        keras_probability=expected["probability"],
        browser_probability=actual["probability"],
        problems=tuple(problems),
    )


def verify_export(
    run_dir: Path,
    model_dir: Path,
    sample_images: np.ndarray | Sequence[str | Path],
    tolerance: float = DEFAULT_TOLERANCE,
    backend: str = "wasm",
) -> ParityResult:
    """Post-step of `unmask export`: raise `UserFacingError` unless the browser model matches the run.

    `sample_images` is either a preprocessed float32 batch [N, 128, 128, 3] or image files, which go
    through `training.preprocessing.preprocess` (the one definition the browser reproduces).
    """
    if isinstance(sample_images, np.ndarray):
        images = sample_images
    else:
        from unmask.training.preprocessing import preprocess

        files = list(sample_images)
        if not files:
            raise UserFacingError("parity check needs at least one sample image")
        images = np.stack([preprocess(Path(file)) for file in files])
    result = check_parity(Path(run_dir), Path(model_dir), images, tolerance=tolerance, backend=backend)
    if not result.passed:
        raise UserFacingError(f"the exported browser model does not match the trained model:\n{result.summary()}")
    return result


def _as_batch(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1:] != INPUT_SHAPE or len(images) == 0:
        raise ValueError(f"images must be float32 [N, 128, 128, 3] with N >= 1, got shape {images.shape}")
    return np.ascontiguousarray(images)


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("nan")
    difference = np.abs(a - b)
    return float("nan") if np.isnan(difference).any() else float(difference.max())


def _require_node() -> str:
    node = shutil.which("node")
    if node is None:
        raise UserFacingError(
            "Node.js (`node`) is not on PATH: install Node 20 to run the browser model, then run `npm ci --prefix web`"
        )
    missing = [
        name for name in REQUIRED_NODE_PACKAGES if not (WEB_ROOT / "node_modules" / name / "package.json").is_file()
    ]
    if missing:
        raise UserFacingError(
            f"{', '.join(missing)} missing from {WEB_ROOT / 'node_modules'}: run `npm ci --prefix web`"
        )
    if not PREDICT_SCRIPT.is_file():
        raise UserFacingError(f"{PREDICT_SCRIPT} is missing")
    return node


def _exported_calibration(model_dir: Path) -> Calibration:
    """The calibration metadata.json says the browser model carries (the run's calibration dict, copied by
    `export_model`), read with the same defaults as the run's."""
    try:
        metadata = json.loads((model_dir / "metadata.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        metadata = {}
    return Calibration.of_run(metadata if isinstance(metadata, dict) else {})

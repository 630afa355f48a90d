"""Shared fixtures for the converter tests: one model, exported once per session with the real converter.

The model is `npr` (the default) with seeded random weights (nothing is trained), its BatchNorm statistics and
affine parameters perturbed so that the converter's BatchNorm folding really changes numbers, and its
evidence layer scaled so that the logits span a few units (otherwise every probability sits at 0.5 and a
wrong calibration or a broken layer would go unnoticed). It is exported with a non-trivial Platt
calibration (scale 0.5, offset -0.3), recorded in run.json as training writes it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from unmask.training.calibration import Calibration

SEED = 1234
CALIBRATION_SCALE = 0.5
CALIBRATION_OFFSET = -0.3
REPO_ROOT = Path(__file__).resolve().parents[2]
TRAIN_EXTRA = ("tensorflow", "keras", "tensorflowjs")

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class ExportedModel:
    run_dir: Path
    model_dir: Path
    metadata: dict
    calibration: Calibration


def _probe_images(rng: np.random.Generator, count: int = 6) -> np.ndarray:
    """Smooth random images at several scales (more like photos than white noise), in [0, 1]."""
    from PIL import Image

    images = []
    for index in range(count):
        side = (4, 8, 16, 32, 64, 128)[index % 6]
        small = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((128, 128), Image.Resampling.BILINEAR)
        images.append(np.asarray(image, dtype=np.float32) / 255.0)
    return np.stack(images)


def _perturb_batchnorm(model, probe: np.ndarray, rng: np.random.Generator) -> None:
    """Give every BatchNorm non-trivial statistics: near the real ones (so activations neither die nor
    explode through the depth of the network), then scaled and shifted at random, with random gamma and beta.
    Layer by layer, in graph order, so each sees the statistics of the already-perturbed layers before it."""
    import keras

    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        feeding = keras.Model(model.input, layer.input)
        activations = np.asarray(feeding.predict(probe, verbose=0), dtype=np.float64)
        mean = activations.mean(axis=(0, 1, 2))
        variance = activations.var(axis=(0, 1, 2)) + 1e-3
        channels = mean.shape[0]
        layer.moving_mean.assign((mean + rng.normal(0.0, 0.1, channels) * np.sqrt(variance)).astype("float32"))
        layer.moving_variance.assign((variance * rng.uniform(0.5, 2.0, channels)).astype("float32"))
        layer.gamma.assign(rng.uniform(0.6, 1.6, channels).astype("float32"))
        layer.beta.assign(rng.normal(0.0, 0.2, channels).astype("float32"))


def _spread_logits(model, probe: np.ndarray) -> None:
    """Scale and shift the evidence 1x1 convolution (non-zero bias included) so that the image logits of
    varied inputs spread over a few units around 0, without blowing up the per-region values."""
    import keras

    evidence = keras.Model(model.input, model.get_layer("evidence").output)
    maps = np.asarray(evidence.predict(probe, verbose=0), dtype=np.float64).reshape(len(probe), -1)
    logits = maps.mean(axis=1)
    scale = min(3.0 / max(float(logits.std()), 1e-6), 4.0 / max(float(maps.std()), 1e-6))
    layer = model.get_layer("evidence")
    kernel, bias = (np.asarray(w) for w in layer.get_weights())
    centre = float(logits.mean())
    layer.set_weights([(kernel * scale).astype("float32"), ((bias - centre) * scale + 0.25).astype("float32")])


def skip_without_train_extra() -> None:
    """Skip only when the extra is absent; a present but broken install must fail, not skip."""
    missing = [name for name in TRAIN_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the training extra (.[train]) is not installed: no {', '.join(missing)}")


@pytest.fixture(scope="session")
def train_extra() -> None:
    """Skips the test without the training extra (see skip_without_train_extra)."""
    skip_without_train_extra()


@pytest.fixture(scope="session")
def exported_model(tmp_path_factory) -> ExportedModel:
    """npr with random (seeded) weights, saved as a training run and exported with tensorflowjs."""
    skip_without_train_extra()
    import keras

    from unmask.converter.export import export_model
    from unmask.training.models import INPUT_SHAPE, build
    from unmask.training.run_folder import RunFolder

    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    model = build("npr")
    probe = _probe_images(rng)
    _perturb_batchnorm(model, probe, rng)
    _spread_logits(model, probe)

    run_dir = tmp_path_factory.mktemp("run")
    folder = RunFolder(run_dir)
    folder.save_model(model)
    folder.write_run(
        {
            "architecture": "npr",
            "input_shape": list(INPUT_SHAPE),
            "seed": SEED,
            "calibration": {
                "method": "Platt scaling on the validation split",
                "scale": CALIBRATION_SCALE,
                "offset": CALIBRATION_OFFSET,
                "val_ece_before": 0.12,
                "val_ece_after": 0.03,
                "val_log_loss_before": 0.61,
                "val_log_loss_after": 0.48,
            },
        }
    )
    model_dir = tmp_path_factory.mktemp("export") / "model"
    metadata = export_model(run_dir, model_dir, version="parity-test")
    return ExportedModel(
        run_dir=run_dir,
        model_dir=model_dir,
        metadata=metadata,
        calibration=Calibration(CALIBRATION_SCALE, CALIBRATION_OFFSET),
    )

"""Training: data -> augmented batches -> model -> calibration -> a run folder.

A run folder holds everything needed to repeat, evaluate and export the run:
`model.keras`, `run.json` (config, data summary, history, calibration, validation metrics) and
`split.json` (the exact files of each split).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from training.augment import augment
from training.calibration import Calibration, fit_platt
from training.data import (CLASS_NAMES, DecodedImages, Sample, class_counts, decode_images, equalise_history,
                           find_samples, split_samples)
from training.faces import face_crops
from training.metrics import binary_metrics
from training.models import DEFAULT_ARCHITECTURE, build
from training.preprocessing import INPUT_SIZE
from unmask import UserFacingError


@dataclass(frozen=True)
class TrainConfig:
    architecture: str = DEFAULT_ARCHITECTURE
    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 6
    # Batch-normalised nets validate erratically while their statistics settle: no stopping before this.
    min_epochs: int = 6
    seed: int = 1337
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    equalise_history: bool = True
    workers: int = 2


# The seed paper's recipe, kept exactly for the baseline: Adam at its default rate, batch 32, 10 epochs,
# early stopping on validation loss.
PAPER_CONFIG = TrainConfig(architecture="paper", epochs=10, batch_size=32, learning_rate=1e-3,
                           weight_decay=0.0, patience=3, min_epochs=0)


def config_for(architecture: str, **overrides: Any) -> TrainConfig:
    base = PAPER_CONFIG if architecture == "paper" else TrainConfig(architecture=architecture)
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def train(data_dir: Path, out_dir: Path, config: TrainConfig, val_dir: Path | None = None,
          test_dir: Path | None = None) -> dict[str, Any]:
    """Train one model and write its run folder. Returns the run record (also in run.json)."""
    keras.utils.set_random_seed(config.seed)
    splits = _splits(data_dir, config, val_dir, test_dir)  # a data error stops here, before any folder is made
    out_dir.mkdir(parents=True, exist_ok=True)
    # Paths relative to the run folder: the record holds no machine's paths and survives moving both.
    (out_dir / "split.json").write_text(json.dumps(
        {name: [{"path": _relative(s.path, out_dir), "label": CLASS_NAMES[s.label]} for s in samples]
         for name, samples in splits.items()}, indent=1))

    _log(f"decoding {len(splits['train'])} training and {len(splits['val'])} validation images")
    recode = equalise_history if config.equalise_history else None
    # The browser judges face crops: training sees the same crops, from the same detector.
    crops, faces_found = face_crops(s.path for split in splits.values() for s in split)
    train_images = decode_images(splits["train"], for_training=True, recode=recode, crops=crops)
    val_images = decode_images(splits["val"], for_training=False, recode=recode, crops=crops)
    for name, decoded in (("train", train_images), ("val", val_images)):
        _require_both_classes(name, decoded)

    model = build(config.architecture)
    batches = AugmentedBatches(train_images, config)
    model.compile(optimizer=_optimizer(config, steps=len(batches) * config.epochs),
                  loss=keras.losses.BinaryCrossentropy(),
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")])
    x_val, y_val = np.stack(val_images.images), val_images.labels.astype(np.float32)
    started = time.monotonic()
    history = model.fit(
        batches, validation_data=(x_val, y_val), epochs=config.epochs, verbose=1 if sys.stdout.isatty() else 2,
        callbacks=[keras.callbacks.EarlyStopping("val_loss", patience=config.patience, restore_best_weights=True,
                                                 start_from_epoch=config.min_epochs)],
    )
    seconds = time.monotonic() - started

    calibration, calibration_record, after = calibrate(model, x_val, val_images.labels)
    model.save(out_dir / "model.keras")
    run = {
        "architecture": config.architecture,
        "input_shape": [INPUT_SIZE, INPUT_SIZE, 3],
        "config": asdict(config),
        "parameters": int(model.count_params()),
        "data": {
            "train_folder": _relative(data_dir, out_dir),
            "counts": {name: class_counts(samples) for name, samples in splits.items()},
            "skipped": train_images.skipped + val_images.skipped,
            "history_equalised": config.equalise_history,
            "faces_found": faces_found,
        },
        "training": {"seconds": round(seconds, 1), "epochs_run": len(history.history["loss"]),
                     "backend": keras.backend.backend()},
        "history": {k: [float(v) for v in values] for k, values in history.history.items()},
        "calibration": calibration_record,
        "metrics": {"validation": {k: after[k] for k in ("accuracy", "roc_auc", "ece", "count")}},
    }
    (out_dir / "run.json").write_text(json.dumps(run, indent=2, allow_nan=False))
    _log(f"trained {config.architecture} in {seconds:.0f} s; calibration {calibration}; "
         f"validation accuracy {after['accuracy']:.3f}, AUC {after['roc_auc']:.3f}")
    return run


class AugmentedBatches(keras.utils.PyDataset):
    """Batches of freshly augmented training images; a new random order and new variants every epoch.

    Each batch draws from its own generator seeded by (seed, epoch, batch), so a run is reproducible
    whatever order the worker threads finish in.
    """

    def __init__(self, images: DecodedImages, config: TrainConfig) -> None:
        super().__init__(workers=config.workers, use_multiprocessing=False)
        self.images = images
        self.config = config
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.config.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        size, seed = self.config.batch_size, self.config.seed
        order = np.random.default_rng([seed, self.epoch]).permutation(len(self.images))
        chosen = order[index * size:(index + 1) * size]
        rng = np.random.default_rng([seed, self.epoch, index])
        x = np.stack([augment(self.images.images[i], rng) for i in chosen])
        return x, self.images.labels[chosen].astype(np.float32)

    def on_epoch_end(self) -> None:
        self.epoch += 1


def _optimizer(config: TrainConfig, steps: int) -> keras.optimizers.Optimizer:
    if config.architecture == "paper":
        return keras.optimizers.Adam(config.learning_rate)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate * 0.1, decay_steps=steps, warmup_target=config.learning_rate,
        warmup_steps=max(1, steps // 20))
    return keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)


def calibrate(model: keras.Model, x_val: np.ndarray, labels: np.ndarray) -> tuple[Calibration, dict, dict]:
    """Fit Platt scaling on the validation split; returns it, its run.json record and the calibrated
    validation metrics."""
    logits = _logits(model, x_val)
    calibration = fit_platt(logits, labels)
    before = binary_metrics(labels, Calibration().apply(logits))
    after = binary_metrics(labels, calibration.apply(logits))
    record = {"method": "Platt scaling on the validation split", **asdict(calibration),
              "val_ece_before": before["ece"], "val_ece_after": after["ece"],
              "val_log_loss_before": before["log_loss"], "val_log_loss_after": after["log_loss"]}
    return calibration, record, after


def _logits(model: keras.Model, images: np.ndarray) -> np.ndarray:
    logit_model = keras.Model(model.input, model.get_layer("logit").output)
    return logit_model.predict(images, batch_size=64, verbose=0).reshape(-1).astype(np.float64)


def _splits(data_dir: Path, config: TrainConfig, val_dir: Path | None,
            test_dir: Path | None) -> dict[str, list[Sample]]:
    samples = find_samples(data_dir)
    val_fraction = 0.0 if val_dir else config.val_fraction
    test_fraction = 0.0 if test_dir else config.test_fraction
    splits = split_samples(samples, config.seed, val_fraction, test_fraction)
    if val_dir:
        splits["val"] = find_samples(val_dir)
    if test_dir:
        splits["test"] = find_samples(test_dir)
    return splits


def _require_both_classes(name: str, decoded: DecodedImages) -> None:
    counts = np.bincount(decoded.labels, minlength=2)
    if counts.min() == 0:
        raise UserFacingError(f"the {name} split has {counts[0]} readable real and {counts[1]} readable "
                              f"deepfake images: both classes are needed ({len(decoded.skipped)} files skipped)")


def _relative(path: Path, run_dir: Path) -> str:
    return os.path.relpath(Path(path).resolve(), Path(run_dir).resolve())


def _log(message: str) -> None:
    print(f"[unmask] {message}", flush=True)

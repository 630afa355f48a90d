"""Training: data -> augmented batches -> model -> calibration -> a run folder.

Training reads one or more dataset folders (sources). Each epoch draws its images so that both classes weigh
the same and, within a class, every source weighs the same (a generator with 341 faces counts as much as
one with 3000): the model must find what the sources of a class share, not what the largest one looks like.

A run folder (`run_folder.RunFolder`) holds everything needed to repeat, evaluate and export the run.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from unmask import UserFacingError
from unmask.training.aligned_fakes import with_aligned_fakes
from unmask.training.architectures import DEFAULT_ARCHITECTURE
from unmask.training.augment import AugmentConfig, augment
from unmask.training.calibration import Calibration, fit_at_operating_point, operating_point
from unmask.training.data import (
    REAL,
    DecodedImages,
    Sample,
    class_counts,
    decode_images,
    equalise_history,
    find_samples,
    find_sources,
    group_counts,
    split_samples,
)
from unmask.training.faces import face_crops
from unmask.training.metrics import binary_metrics
from unmask.training.models import build, phase_averaged
from unmask.training.preprocessing import INPUT_SIZE, Box
from unmask.training.run_folder import RunFolder, provenance

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    architecture: str = DEFAULT_ARCHITECTURE
    epochs: int = 20  # the shipped model's: about 21 minutes on 2 CPU cores
    # Images drawn per epoch (source-balanced, with replacement); None: as many as the training split holds.
    epoch_size: int | None = None
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
    # Probability 0.5 is put where at most this share of each real source's validation faces is flagged.
    target_fpr: float = 0.02
    # One content-aligned pseudo-fake per real training face (aligned_fakes.py), as one more generator.
    aligned_fakes: bool = False
    workers: int = 2


# Every training image's random processing history (augment.py); recorded in run.json.
AUGMENTATION = AugmentConfig()

# The seed paper's recipe, kept exactly for the baseline: Adam at its default rate, batch 32, 10 epochs,
# early stopping on validation loss.
PAPER_CONFIG = TrainConfig(
    architecture="paper", epochs=10, batch_size=32, learning_rate=1e-3, weight_decay=0.0, patience=3, min_epochs=0
)


def config_for(architecture: str, **overrides: Any) -> TrainConfig:
    base = PAPER_CONFIG if architecture == "paper" else TrainConfig(architecture=architecture)
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def train(
    data_dirs: list[Path],
    out_dir: Path,
    config: TrainConfig,
    val_dir: Path | None = None,
    test_dir: Path | None = None,
    exclude_groups: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Train one model on the dataset folders `data_dirs` and write its run folder. `exclude_groups` names
    (source, class) groups (`Sample.group`) left out of every split (leave-one-source-out). Returns the run
    record (also in run.json)."""
    keras.utils.set_random_seed(config.seed)
    # A data error stops here, before any folder is made.
    splits = _splits(data_dirs, config, val_dir, test_dir, exclude_groups)
    folder = RunFolder(out_dir)
    folder.write_split(splits)

    logger.info("decoding %d training and %d validation images", len(splits["train"]), len(splits["val"]))
    recode = equalise_history if config.equalise_history else None
    # The browser judges face crops: training sees the same crops, from the same detector.
    crops, faces_found = face_crops(s.path for split in splits.values() for s in split)
    train_images = decode_images(splits["train"], for_training=True, recode=recode, crops=crops)
    val_images = decode_images(splits["val"], for_training=False, recode=recode, crops=crops)
    for name, decoded in (("train", train_images), ("val", val_images)):
        _require_both_classes(name, decoded)
    aligned_record = None
    if config.aligned_fakes:
        train_images, aligned_record = with_aligned_fakes(train_images, config.seed)

    model = build(config.architecture)
    batches = AugmentedBatches(train_images, config)
    model.compile(
        optimizer=_optimizer(config, steps=len(batches) * config.epochs),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
    )
    x_val, y_val = np.stack(val_images.images), val_images.labels.astype(np.float32)
    started = time.monotonic()
    history = model.fit(
        batches,
        validation_data=(x_val, y_val),
        epochs=config.epochs,
        verbose=1 if sys.stdout.isatty() else 2,
        callbacks=[
            keras.callbacks.EarlyStopping(
                "val_loss", patience=config.patience, restore_best_weights=True, start_from_epoch=config.min_epochs
            )
        ],
    )
    seconds = time.monotonic() - started

    folder.save_model(model)
    calibration, calibration_record, after = calibrate(
        model, calibration_views(splits["val"], crops), config.target_fpr
    )
    run = {
        "architecture": config.architecture,
        "input_shape": [INPUT_SIZE, INPUT_SIZE, 3],
        "config": asdict(config),
        "augmentation": asdict(AUGMENTATION),
        "parameters": int(model.count_params()),
        "data": {
            "train_folder": folder.relative(data_dirs[0]),
            "train_folders": [folder.relative(data_dir) for data_dir in data_dirs],
            "excluded_groups": list(exclude_groups),
            "counts": {name: class_counts(samples) for name, samples in splits.items()},
            "group_counts": {name: group_counts(samples) for name, samples in splits.items()},
            "skipped": train_images.skipped + val_images.skipped,
            "history_equalised": config.equalise_history,
            "faces_found": faces_found,
            "aligned_fakes": aligned_record,
        },
        "training": {
            "seconds": round(seconds, 1),
            "epochs_run": len(history.history["loss"]),
            "backend": keras.backend.backend(),
        },
        "history": {k: [float(v) for v in values] for k, values in history.history.items()},
        "calibration": calibration_record,
        "metrics": {"validation": {k: after[k] for k in ("accuracy", "roc_auc", "ece", "count")}},
        "provenance": provenance(),
    }
    folder.write_run(run)
    logger.info(
        "trained %s in %.0f s; calibration %s; validation accuracy %.3f, AUC %.3f",
        config.architecture,
        seconds,
        calibration,
        after["accuracy"],
        after["roc_auc"],
    )
    return run


class AugmentedBatches(keras.utils.PyDataset):
    """Batches of freshly augmented training images; a new source-balanced draw and new variants every epoch.

    Each batch draws from its own generator seeded by (seed, epoch, batch), so a run is reproducible
    whatever order the worker threads finish in.
    """

    def __init__(self, images: DecodedImages, config: TrainConfig) -> None:
        super().__init__(workers=config.workers, use_multiprocessing=False)
        self.images = images
        self.config = config
        self.epoch = 0
        self.weights = balanced_weights(images.labels, images.groups)

    def __len__(self) -> int:
        return math.ceil((self.config.epoch_size or len(self.images)) / self.config.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        size, seed = self.config.batch_size, self.config.seed
        order = np.random.default_rng([seed, self.epoch]).choice(
            len(self.images), size=len(self) * size, p=self.weights
        )
        chosen = order[index * size : (index + 1) * size]
        rng = np.random.default_rng([seed, self.epoch, index])
        x = np.stack([augment(self.images.images[i], rng, AUGMENTATION) for i in chosen])
        return x, self.images.labels[chosen].astype(np.float32)

    def on_epoch_end(self) -> None:
        self.epoch += 1


def balanced_weights(labels: np.ndarray, groups: list[str]) -> np.ndarray:
    """Sampling probabilities that give each class half the draws and each group of a class an equal share."""
    labels = np.asarray(labels)
    group_array = np.asarray(groups)
    weights = np.zeros(len(labels), dtype=np.float64)
    for label in np.unique(labels):
        in_class = labels == label
        class_groups = np.unique(group_array[in_class])
        for group in class_groups:
            members = in_class & (group_array == group)
            weights[members] = 1.0 / (members.sum() * len(class_groups))
    return weights / weights.sum()


def _optimizer(config: TrainConfig, steps: int) -> keras.optimizers.Optimizer:
    if config.architecture == "paper":
        return keras.optimizers.Adam(config.learning_rate)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate * 0.1,
        decay_steps=steps,
        warmup_target=config.learning_rate,
        warmup_steps=max(1, steps // 20),
    )
    return keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)


# Validation faces are judged as browsers get them (files as stored, no history equalisation) and re-saved as
# people re-publish them: the operating point must hold on every one of these versions of every real source.
# The enlarged copies bind hardest (FFHQ's 128 px thumbnails, enlarged, carry upsampling traces), and that
# margin is what holds on real photos no model saw: allowing 5% on them instead caught 2.5 times as many
# validation StyleGAN2 faces, but flagged 9.4% of crossval-stylegan's real photos (1.0% as it is).
CALIBRATION_VIEWS = ("JPEG q95", "4x larger, JPEG q90")
AS_STORED = "as stored"


def calibration_views(val_samples: list[Sample], crops: Mapping[str, Box | None]) -> dict[str, DecodedImages]:
    """The validation split as stored and in each of CALIBRATION_VIEWS, as model inputs: each picture's face
    crop, as the browser judges it."""
    from unmask.training.evaluate import REENCODINGS

    views = {AS_STORED: decode_images(val_samples, for_training=False, crops=crops)}
    views.update(
        {
            name: decode_images(val_samples, for_training=False, recode=REENCODINGS[name], crops=crops)
            for name in CALIBRATION_VIEWS
        }
    )
    return views


def calibrate(model: keras.Model, views: dict[str, DecodedImages], target_fpr: float) -> tuple[Calibration, dict, dict]:
    """Put probability 0.5 at the operating point for real photos (see calibration.py), on every view of every
    real source's validation faces, and fit the scale around it on the split as stored; returns the
    calibration, its run.json record and the calibrated validation metrics (as stored)."""
    judge = phase_averaged(model)  # built once: every view is judged by the same graph
    logits = {name: _logits(judge, np.stack(view.images)) for name, view in views.items()}
    real_logits, real_groups = [], []
    for name, view in views.items():
        real = view.labels == REAL
        real_logits.append(logits[name][real])
        real_groups += [f"{group} ({name})" for group, is_real in zip(view.groups, real, strict=True) if is_real]
    threshold = operating_point(np.concatenate(real_logits), real_groups, target_fpr)
    stored, labels = views[AS_STORED], views[AS_STORED].labels
    calibration = fit_at_operating_point(logits[AS_STORED], labels, threshold)
    before = binary_metrics(labels, Calibration().apply(logits[AS_STORED]))
    after = binary_metrics(labels, calibration.apply(logits[AS_STORED]))
    per_group = {
        name: {
            group: float(np.mean(calibration.apply(logits[name][members]) >= 0.5))
            for group in sorted(set(view.groups))
            for members in [np.asarray(view.groups) == group]
        }
        for name, view in views.items()
    }
    record = {
        "method": f"operating point at {target_fpr:.0%} false positives on every real source's "
        f"validation faces, {AS_STORED} and re-saved ({', '.join(CALIBRATION_VIEWS)}); "
        "scale fitted by maximum likelihood around it",
        "target_fpr": target_fpr,
        "threshold_logit": threshold,
        **asdict(calibration),
        "val_flagged_by_group": per_group,
        "val_count_by_group": group_counts_of(stored),
        "val_ece_before": before["ece"],
        "val_ece_after": after["ece"],
        "val_log_loss_before": before["log_loss"],
        "val_log_loss_after": after["log_loss"],
    }
    return calibration, record, after


def recalibrate(run_dir: Path, target_fpr: float | None = None) -> dict[str, Any]:
    """Calibrate a trained run again (after a change of the operating-point rule); rewrites its run.json."""
    folder = RunFolder(run_dir)
    run = folder.read_run()
    target = target_fpr if target_fpr is not None else run["config"].get("target_fpr", TrainConfig.target_fpr)
    model = folder.load_model()
    val_samples = folder.read_split("val")
    crops, _ = face_crops(s.path for s in val_samples)
    calibration, record, after = calibrate(model, calibration_views(val_samples, crops), target)
    run["config"]["target_fpr"] = target
    run["calibration"] = record
    run["metrics"]["validation"] = {k: after[k] for k in ("accuracy", "roc_auc", "ece", "count")}
    folder.write_run(run)
    logger.info("calibrated %s again: %s", run_dir, calibration)
    return run


def group_counts_of(decoded: DecodedImages) -> dict[str, int]:
    return {group: decoded.groups.count(group) for group in sorted(set(decoded.groups))}


def _logits(judge: keras.Model, images: np.ndarray) -> np.ndarray:
    """The logits the browser model calibrates, from `models.phase_averaged(model)`: every pixel phase."""
    logits = judge.predict(images, batch_size=64, verbose=0)["logit"]
    return np.asarray(logits).reshape(-1).astype(np.float64)


def _splits(
    data_dirs: list[Path],
    config: TrainConfig,
    val_dir: Path | None,
    test_dir: Path | None,
    exclude_groups: tuple[str, ...],
) -> dict[str, list[Sample]]:
    samples = find_sources(data_dirs)
    unknown = set(exclude_groups) - {s.group for s in samples}
    if unknown:
        raise UserFacingError(f"cannot leave out {', '.join(sorted(unknown))}: no such source and class")
    val_fraction = 0.0 if val_dir else config.val_fraction
    test_fraction = 0.0 if test_dir else config.test_fraction
    splits = split_samples(samples, config.seed, val_fraction, test_fraction)
    if val_dir:
        splits["val"] = find_samples(val_dir)
    if test_dir:
        splits["test"] = find_samples(test_dir)
    splits = {name: [s for s in members if s.group not in exclude_groups] for name, members in splits.items()}
    if min(class_counts(splits["train"]).values()) == 0:
        raise UserFacingError("with those sources left out, the training split lacks a class")
    return splits


def _require_both_classes(name: str, decoded: DecodedImages) -> None:
    counts = np.bincount(decoded.labels, minlength=2)
    if counts.min() == 0:
        raise UserFacingError(
            f"the {name} split has {counts[0]} readable real and {counts[1]} readable "
            f"deepfake images: both classes are needed ({len(decoded.skipped)} files skipped)"
        )

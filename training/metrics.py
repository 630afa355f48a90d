"""Evaluation metrics for the binary deepfake detector, in plain NumPy.

Conventions used throughout:

* Labels are 1 for a deepfake (the positive class) and 0 for a real photo.
* Probabilities are the model's P(deepfake), each in [0, 1].
* An image is *flagged* as a deepfake when ``probability >= threshold``; the same rule is used by the
  confusion matrix and by every point of the ROC curve, so the two always agree.

Every result is JSON-ready: plain ``int``/``float``/``list``/``dict``, never a NumPy scalar, and never NaN.
A ratio whose denominator is zero is ``None`` rather than NaN or an arbitrary 0, because in this product a
folder often holds a single class (e.g. a folder of fakes from a new generator): its false-positive rate
simply does not exist, and writing 0 there would claim a measurement that was never made. ``None`` also
keeps ``json.dumps(..., allow_nan=False)`` usable as a guard against NaN leaking into a report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CLASS_NAMES = ("Real", "Deepfake")  # index = label
CALIBRATION_BINS = 15
MAX_CURVE_POINTS = 200
# Same clipping as Keras' binary cross-entropy, so the reported log loss matches the training loss.
LOG_LOSS_EPSILON = 1e-7


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """All evaluation numbers for one folder, as a JSON-serialisable dict.

    Threshold metrics (accuracy, precision, recall, F1, specificity, error rates, confusion matrix and the
    classification report) use ``probability >= threshold`` as "deepfake". Ranking and calibration metrics
    (ROC AUC, ECE, Brier score, log loss) use the probabilities themselves.

    Values that are undefined for this data are ``None``:

    * ``precision`` when nothing was flagged (no predicted positives to be right about);
    * ``recall``/``false_negative_rate`` when the folder holds no deepfakes;
    * ``specificity``/``false_positive_rate`` when it holds no real photos;
    * ``f1`` (computed as 2TP / (2TP + FP + FN)) when there are neither deepfakes nor flagged images;
    * ``roc_auc`` and ``roc_curve`` when only one class is present (ranking needs both).

    Raises ValueError for empty, mismatched or out-of-range inputs, or a threshold outside [0, 1].
    """
    y, p = _validated(labels, probabilities)
    if not 0.0 <= threshold <= 1.0:  # also rejects NaN
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    flagged = p >= threshold
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    tn = int(np.sum(~flagged & (y == 0)))
    count = tp + fp + fn + tn
    curve = _roc_points(y, p)
    bins = _reliability_bins(y, p, CALIBRATION_BINS)
    clipped = np.clip(p, LOG_LOSS_EPSILON, 1.0 - LOG_LOSS_EPSILON)
    return {
        "threshold": float(threshold),
        "count": count,
        "positives": tp + fn,
        "negatives": tn + fp,
        "accuracy": (tp + tn) / count,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "specificity": _ratio(tn, tn + fp),
        "false_positive_rate": _ratio(fp, fp + tn),
        "false_negative_rate": _ratio(fn, fn + tp),
        # Rows are the true class, columns the prediction, both in CLASS_NAMES order (as scikit-learn).
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp, "matrix": [[tn, fp], [fn, tp]]},
        "classification_report": _classification_report(tn, fp, fn, tp),
        "roc_auc": None if curve is None else _trapezoid_area(*curve[:2]),
        "roc_curve": None if curve is None else _downsampled_curve(*curve),
        "ece": _calibration_error(bins, count),
        "reliability": bins,
        "brier_score": float(np.mean((p - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1.0 - clipped))),
    }


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """ECE over ``bins`` equal-width bins of P(deepfake).

    For each bin, the gap between the mean predicted probability and the observed fraction of deepfakes,
    weighted by the share of images in the bin: 0 means "70 %" really is right 70 % of the time.
    """
    y, p = _validated(labels, probabilities)
    return _calibration_error(_reliability_bins(y, p, bins), len(y))


def _validated(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Checked float copies, flattened from the (n,) or (n, 1) shapes that ``model.predict`` returns."""
    y = _as_vector(labels, "labels")
    p = _as_vector(probabilities, "probabilities")
    if len(y) != len(p):
        raise ValueError(f"labels and probabilities differ in length: {len(y)} != {len(p)}")
    if len(y) == 0:
        raise ValueError("no samples: labels and probabilities are empty")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 (real) or 1 (deepfake)")
    bad = ~((p >= 0.0) & (p <= 1.0))  # written this way so NaN counts as bad
    if np.any(bad):
        raise ValueError(
            f"probabilities must be in [0, 1] and not NaN: {int(np.sum(bad))} bad value(s), "
            f"first at index {int(np.argmax(bad))}: {p[np.argmax(bad)]!r}"
        )
    return y, p


def _as_vector(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (or a single column), got shape {array.shape}")
    return array


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def _classification_report(tn: int, fp: int, fn: int, tp: int) -> dict[str, Any]:
    """Per-class precision/recall/F1/support plus macro and weighted averages, like scikit-learn's.

    Each class is scored as if it were the positive one, so "Real" swaps the roles of TP/TN and FP/FN.
    The averages run over the classes present in the folder (support > 0); a present class that was never
    predicted has an undefined precision, which the averages count as 0 (scikit-learn's zero_division=0),
    since the model failing to ever name an existing class should lower the average, not vanish from it.
    """
    per_class = {
        "Real": _class_scores(hits=tn, false_alarms=fn, misses=fp),
        "Deepfake": _class_scores(hits=tp, false_alarms=fp, misses=fn),
    }
    present = [scores for scores in per_class.values() if scores["support"] > 0]
    total = tn + fp + fn + tp
    return per_class | {
        "accuracy": (tp + tn) / total,
        "macro avg": _averaged(present, [1.0] * len(present), total),
        "weighted avg": _averaged(present, [scores["support"] for scores in present], total),
    }


def _averaged(classes: list[dict[str, Any]], weights: list[float], total: int) -> dict[str, Any]:
    averages = {
        key: float(np.average([scores[key] or 0.0 for scores in classes], weights=weights))
        for key in ("precision", "recall", "f1")
    }
    return averages | {"support": total}


def _class_scores(hits: int, false_alarms: int, misses: int) -> dict[str, Any]:
    return {
        "precision": _ratio(hits, hits + false_alarms),
        "recall": _ratio(hits, hits + misses),
        "f1": _ratio(2 * hits, 2 * hits + false_alarms + misses),
        "support": hits + misses,
    }


def _roc_points(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The full ROC curve, one point per distinct probability, or None if a class is missing.

    Tied probabilities share a single point, so a tie between a real and a fake becomes a diagonal segment
    and the trapezoid area counts it as half a correct ranking: exactly the Mann-Whitney statistic.
    The first point, (0, 0), flags nothing; its threshold is +inf (written as None in JSON).
    """
    positives = int(np.sum(y))
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(-p, kind="stable")
    scores, truth = p[order], y[order]
    # Last index of each run of equal scores: flagging ">= that score" flags the whole run.
    run_ends = np.flatnonzero(np.diff(scores) != 0)
    run_ends = np.append(run_ends, len(scores) - 1)
    true_positives = np.cumsum(truth)[run_ends]
    false_positives = (run_ends + 1) - true_positives
    fpr = np.concatenate([[0.0], false_positives / negatives])
    tpr = np.concatenate([[0.0], true_positives / positives])
    thresholds = np.concatenate([[np.inf], scores[run_ends]])
    return fpr, tpr, thresholds


def _trapezoid_area(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def _downsampled_curve(fpr: np.ndarray, tpr: np.ndarray, thresholds: np.ndarray) -> dict[str, list[Any]]:
    """At most MAX_CURVE_POINTS evenly spaced points (always both ends) to keep report.json small.

    Only the plot uses these; roc_auc is computed on the full curve.
    """
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), MAX_CURVE_POINTS)).round().astype(int))
    return {
        "fpr": fpr[keep].tolist(),
        "tpr": tpr[keep].tolist(),
        "thresholds": [None if np.isinf(t) else float(t) for t in thresholds[keep]],
    }


def _reliability_bins(y: np.ndarray, p: np.ndarray, bins: int) -> list[dict[str, Any]]:
    """Equal-width bins over [0, 1] with their mean predicted probability and observed deepfake fraction.

    Bins are [lower, upper) except the last, which also holds probability 1.0. Empty bins are kept (with
    None statistics) so a reliability diagram always has the same x axis.
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.minimum((p * bins).astype(int), bins - 1)
    result = []
    for b in range(bins):
        members = index == b
        count = int(np.sum(members))
        result.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "mean_confidence": float(np.mean(p[members])) if count else None,
                "observed_frequency": float(np.mean(y[members])) if count else None,
            }
        )
    return result


def _calibration_error(bins: list[dict[str, Any]], total: int) -> float:
    return float(
        sum(b["count"] / total * abs(b["observed_frequency"] - b["mean_confidence"]) for b in bins if b["count"])
    )

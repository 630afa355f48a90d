"""Calibration: make the model's probabilities mean what they say.

The shipped recipe first chooses the operating point for real photos: the logit above which at most a
target share (2%) of the validation real faces of *every* real source lies. Probability 0.5 is pinned there
(offset = -scale * that logit), so that "probability >= 0.5 means deepfake" keeps that false-positive rate on
each visible real source, and only the scale is fitted by maximum likelihood (`fit_at_operating_point`).

The calibrated probability is sigmoid(scale * logit + offset). The scale plays the role of an inverse
temperature (it softens an over-confident model); the offset puts 0.5 at the operating point. Both are
monotone, so the ranking of images (the ROC curve) is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Calibration:
    scale: float = 1.0
    offset: float = 0.0

    @classmethod
    def of_run(cls, run: dict) -> Calibration:
        """The calibration a training run recorded in its run.json."""
        recorded = run.get("calibration", {})
        return cls(scale=float(recorded.get("scale", 1.0)), offset=float(recorded.get("offset", 0.0)))

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw logits."""
        return 1.0 / (1.0 + np.exp(-(self.scale * np.asarray(logits, dtype=np.float64) + self.offset)))


def operating_point(logits: np.ndarray, groups: list[str], target_fpr: float) -> float:
    """The smallest logit threshold at which at most `target_fpr` of each group's logits lie at or above it:
    with several real sources, the strictest of them sets the point."""
    if not 0 <= target_fpr < 1:
        raise ValueError(f"target false-positive rate must be in [0, 1), got {target_fpr!r}")
    values = np.asarray(logits, dtype=np.float64).reshape(-1)
    if values.size == 0 or values.size != len(groups):
        raise ValueError("an operating point needs one group per logit, and at least one logit")
    thresholds = []
    for group in sorted(set(groups)):
        ranked = np.sort(values[[g == group for g in groups]])[::-1]
        allowed = int(np.floor(target_fpr * ranked.size))  # how many may lie at or above the threshold
        if allowed >= ranked.size:
            thresholds.append(ranked[-1])
        elif allowed > 0 and ranked[allowed - 1] > ranked[allowed]:
            thresholds.append((ranked[allowed - 1] + ranked[allowed]) / 2)  # a margin both ways: no rounding tie
        else:
            thresholds.append(ranked[allowed] + 1e-6 * max(1.0, abs(ranked[allowed])))
    return float(max(thresholds))


def fit_at_operating_point(
    logits: np.ndarray, labels: np.ndarray, threshold_logit: float, iterations: int = 50
) -> Calibration:
    """Maximum-likelihood scale of sigmoid(scale * (logit - threshold_logit)): probability 0.5 stays at the
    operating point, and the scale makes the probabilities around it mean what they say."""
    x = np.asarray(logits, dtype=np.float64).reshape(-1) - threshold_logit
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if x.size == 0 or x.size != y.size:
        raise ValueError("calibration needs as many labels as logits, and at least one")
    if y.min() == y.max():
        raise ValueError("calibration needs both classes in the validation split")
    scale = 1.0
    for _ in range(iterations):
        p = 0.5 * (1.0 + np.tanh(0.5 * scale * x))
        gradient = float(np.mean((p - y) * x)) + 1e-4 * (scale - 1.0)
        curvature = float(np.mean(p * (1 - p) * x * x)) + 1e-4
        step = gradient / curvature
        # A scale must stay positive (a negative one would turn the ranking upside down): at most halve it.
        step = min(step, scale / 2)
        scale -= step
        if abs(step) < 1e-10:
            break
    return Calibration(scale=float(scale), offset=float(-scale * threshold_logit))

"""Calibration: make the model's probabilities mean what they say.

The shipped recipe first chooses the operating point for real photos: the logit above which at most a
target share (2%) of the validation real faces of *every* real source lies. Probability 0.5 is pinned there
(offset = -scale * that logit), so that "probability >= 0.5 means deepfake" keeps that false-positive rate on
each visible real source, and only the scale is fitted by maximum likelihood (`fit_at_operating_point`).

Plain Platt scaling (`fit_platt`) fits probability = sigmoid(scale * logit + offset) on the validation split by maximum
likelihood. The scale plays the role of an inverse temperature (it softens an over-confident model); the
offset corrects a shift that heavy training augmentation leaves between training and real images, which a
temperature alone cannot. Both are monotone, so the ranking of images (the ROC curve) is unchanged.
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


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, calibration: Calibration) -> float:
    return _mean_nll(calibration.scale * logits + calibration.offset, labels)


def _mean_nll(z: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary cross-entropy of calibrated logits `z`; log(1 + exp(-|z|)) keeps large ones from overflowing."""
    return float(np.mean(np.maximum(z, 0) - z * labels + np.log1p(np.exp(-np.abs(z)))))


def fit_platt(logits: np.ndarray, labels: np.ndarray, iterations: int = 50) -> Calibration:
    """Maximum-likelihood (scale, offset) by Newton's method, started from the identity."""
    x = np.asarray(logits, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if x.size == 0 or x.size != y.size:
        raise ValueError("calibration needs as many labels as logits, and at least one")
    if y.min() == y.max():
        raise ValueError("calibration needs both classes in the validation split")
    features = np.stack([x, np.ones_like(x)], axis=1)
    identity = np.array([1.0, 0.0])
    # A little ridge keeps the fit finite when the validation split is perfectly separable.
    ridge = 1e-4 * np.eye(2)

    def objective(params: np.ndarray) -> float:
        return float(_mean_nll(features @ params, y) + 0.5 * (params - identity) @ ridge @ (params - identity))

    params = identity.copy()
    current = objective(params)
    for _ in range(iterations):
        p = 0.5 * (1.0 + np.tanh(0.5 * (features @ params)))  # sigmoid without overflow
        gradient = features.T @ (p - y) / x.size + ridge @ (params - identity)
        hessian = (features * (p * (1 - p))[:, None]).T @ features / x.size + ridge
        step = np.linalg.solve(hessian, gradient)
        # Plain Newton can overshoot and diverge when the answer is far from the identity (e.g. a strongly
        # over-confident model needs a small scale): halve the step until the objective does not grow.
        for _ in range(60):
            candidate = objective(params - step)
            if candidate <= current:
                break
            step = step / 2
        params, current = params - step, min(candidate, current)
        if np.abs(step).max() < 1e-10:
            break
    if params[0] <= 0:
        # The model ranks the validation split no better than chance: a negative scale would silently turn
        # its scores upside down. Say what is known, the base rate, for every image instead.
        base_rate = float(y.mean())
        return Calibration(scale=0.0, offset=float(np.log(base_rate / (1 - base_rate))))
    return Calibration(scale=float(params[0]), offset=float(params[1]))


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


def fit_at_operating_point(logits: np.ndarray, labels: np.ndarray, threshold_logit: float,
                           iterations: int = 50) -> Calibration:
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

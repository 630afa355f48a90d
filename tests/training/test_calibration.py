"""training.calibration: the operating point for real photos, and the scale fitted around it."""

from __future__ import annotations

import numpy as np
import pytest

from unmask.training.calibration import Calibration, fit_at_operating_point
from unmask.training.metrics import binary_metrics


def synthetic(scale: float, offset: float, n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits, and labels drawn from P(y=1 | logit) = sigmoid(scale * logit + offset)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-(scale * logits + offset)))).astype(np.int64)
    return logits, labels


# Small scales are what an over-confident network needs.
@pytest.mark.parametrize("scale, offset", [(0.5, -0.8), (2.0, 1.0), (1.0, 0.0), (0.4, -1.0), (0.2, 0.0), (0.1, -0.2)])
def test_the_fit_recovers_the_scale_that_made_the_labels(scale, offset) -> None:
    fitted = fit_at_operating_point(*synthetic(scale, offset), threshold_logit=-offset / scale)
    assert fitted.scale == pytest.approx(scale, abs=0.1)
    assert fitted.offset == pytest.approx(offset, abs=0.1)


def test_the_fit_reduces_the_log_loss_versus_the_unscaled_threshold() -> None:
    logits, labels = synthetic(0.4, -1.0)
    fitted = fit_at_operating_point(logits, labels, threshold_logit=2.5)
    losses = [binary_metrics(labels, c.apply(logits))["log_loss"] for c in (fitted, Calibration(1.0, -2.5))]
    assert losses[0] < losses[1] - 0.05


def test_the_fit_runs_without_overflow_warnings() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_at_operating_point(*synthetic(0.2, 0.0, n=2000), threshold_logit=0.0)


def test_the_fit_stays_finite_on_perfectly_separable_data() -> None:
    fitted = fit_at_operating_point(np.array([-2.0, -1.0, 1.0, 2.0]), np.array([0, 0, 1, 1]), threshold_logit=0.0)
    assert np.isfinite([fitted.scale, fitted.offset]).all()
    assert fitted.scale > 0


def test_the_fit_refuses_empty_input() -> None:
    with pytest.raises(ValueError):
        fit_at_operating_point(np.array([]), np.array([]), threshold_logit=0.0)


def test_the_fit_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        fit_at_operating_point(np.array([0.1, 0.2, 0.3]), np.array([0, 1]), threshold_logit=0.0)


@pytest.mark.parametrize("label", [0, 1])
def test_the_fit_refuses_one_class(label) -> None:
    with pytest.raises(ValueError, match="both classes"):
        fit_at_operating_point(np.array([-1.0, 0.0, 1.0]), np.full(3, label), threshold_logit=0.0)


def test_apply_is_sigmoid_of_scaled_and_shifted_logits() -> None:
    logits = np.array([-3.0, 0.0, 0.5, 4.0])
    np.testing.assert_allclose(Calibration(2.0, -0.5).apply(logits), 1 / (1 + np.exp(-(2 * logits - 0.5))))


def test_of_run_reads_the_calibration_recorded_in_run_json() -> None:
    run = {
        "architecture": "unmasknet",
        "calibration": {
            "method": "Platt scaling on the validation split",
            "scale": 0.75,
            "offset": -0.25,
            "val_ece_before": 0.1,
            "val_ece_after": 0.02,
        },
    }
    assert Calibration.of_run(run) == Calibration(scale=0.75, offset=-0.25)


def test_of_run_without_a_calibration_is_the_identity() -> None:
    assert Calibration.of_run({"architecture": "paper"}) == Calibration(1.0, 0.0)


def test_a_model_worse_than_chance_is_not_turned_upside_down() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 5000)
    logits = np.where(labels == 1, -1.0, 1.0) + rng.normal(0, 1, 5000)  # anti-correlated with the truth

    calibration = fit_at_operating_point(logits, labels, threshold_logit=0.0)

    assert 0.0 < calibration.scale < 0.01  # no ranking left to trust, and never an inverted one
    assert np.allclose(calibration.apply(logits), 0.5, atol=0.01)


def test_operating_point_keeps_every_real_source_at_or_under_the_target_rate() -> None:
    from unmask.training.calibration import operating_point

    rng = np.random.default_rng(0)
    strict = rng.normal(0, 1, 400)  # one source's real faces score higher than the other's
    lenient = rng.normal(-2, 1, 100)
    logits = np.concatenate([strict, lenient])
    groups = ["a/Real"] * 400 + ["b/Real"] * 100
    threshold = operating_point(logits, groups, 0.02)
    assert np.mean(strict >= threshold) <= 0.02 and np.mean(lenient >= threshold) <= 0.02
    assert np.mean(strict >= threshold) >= 0.015  # the strictest source sets it, no stricter than needed


def test_calibration_at_the_operating_point_puts_one_half_there() -> None:
    from unmask.training.calibration import fit_at_operating_point

    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 500)
    logits = np.where(labels == 1, rng.normal(1.5, 1, 1000), rng.normal(-1.5, 1, 1000)) * 3  # over-confident
    calibration = fit_at_operating_point(logits, labels, threshold_logit=2.0)
    assert calibration.apply(np.array([2.0]))[0] == pytest.approx(0.5)
    assert 0 < calibration.scale < 1  # softened
    assert calibration.apply(np.array([1.9]))[0] < 0.5 < calibration.apply(np.array([2.1]))[0]

"""training.metrics against hand-computed cases and a brute-force Mann-Whitney AUC."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from unmask.training.metrics import MAX_CURVE_POINTS, binary_metrics, expected_calibration_error


def brute_force_auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """P(a random deepfake scores above a random real), ties counting half: the definition of ROC AUC."""
    fakes = probabilities[labels == 1][:, None]
    reals = probabilities[labels == 0][None, :]
    return float(np.mean((fakes > reals) + 0.5 * (fakes == reals)))


def test_perfect_classifier() -> None:
    m = binary_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]))
    assert m["confusion_matrix"] == {"tn": 2, "fp": 0, "fn": 0, "tp": 2, "matrix": [[2, 0], [0, 2]]}
    for key in ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc"):
        assert m[key] == 1.0, key
    assert m["false_positive_rate"] == m["false_negative_rate"] == 0.0
    assert (m["count"], m["positives"], m["negatives"]) == (4, 2, 2)


def test_inverted_classifier() -> None:
    m = binary_metrics(np.array([0, 0, 1, 1]), np.array([0.9, 0.8, 0.2, 0.1]))
    assert m["confusion_matrix"]["matrix"] == [[0, 2], [2, 0]]
    assert m["accuracy"] == 0.0
    assert m["roc_auc"] == 0.0
    assert m["precision"] == m["recall"] == m["f1"] == 0.0
    assert m["false_positive_rate"] == 1.0


def test_hand_computed_counts_and_rates() -> None:
    # At 0.5 the reals 0.2 and 0.1 pass and 0.7 is flagged; the fakes 0.9 and 0.6 are caught and 0.4 missed.
    labels = np.array([0, 0, 1, 1, 1, 0])
    probabilities = np.array([0.2, 0.7, 0.4, 0.9, 0.6, 0.1])
    m = binary_metrics(labels, probabilities)
    assert m["confusion_matrix"] == {"tn": 2, "fp": 1, "fn": 1, "tp": 2, "matrix": [[2, 1], [1, 2]]}
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(2 / 3)
    assert m["false_positive_rate"] == pytest.approx(1 / 3)
    assert m["false_negative_rate"] == pytest.approx(1 / 3)
    # (fake, real) pairs won: 0.4 beats 0.2 and 0.1; 0.9 beats all three; 0.6 beats 0.2 and 0.1.
    assert m["roc_auc"] == pytest.approx(7 / 9)
    assert m["brier_score"] == pytest.approx(np.mean((probabilities - labels) ** 2))
    expected_log_loss = -np.mean(np.log([0.8, 0.3, 0.4, 0.9, 0.6, 0.9]))
    assert m["log_loss"] == pytest.approx(expected_log_loss)


def test_threshold_is_inclusive() -> None:
    labels = np.array([1, 0])
    assert binary_metrics(labels, np.array([0.5, 0.49]))["confusion_matrix"]["tp"] == 1
    m = binary_metrics(labels, np.array([0.7, 0.7]), threshold=0.7)
    assert (m["confusion_matrix"]["tp"], m["confusion_matrix"]["fp"]) == (1, 1)
    assert binary_metrics(labels, np.array([0.7, 0.2]), threshold=0.71)["confusion_matrix"]["fn"] == 1


def test_auc_counts_ties_as_half() -> None:
    # Pairs: (0.5 vs 0.1) win, (0.5 vs 0.5) tie, (0.9 vs 0.1) win, (0.9 vs 0.5) win -> 3.5 / 4.
    assert binary_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.5, 0.5, 0.9]))["roc_auc"] == 0.875
    assert binary_metrics(np.array([0, 1, 0, 1]), np.full(4, 0.3))["roc_auc"] == 0.5


def test_auc_matches_mann_whitney_with_heavy_ties() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    probabilities = np.round(np.clip(0.35 * labels + rng.random(500) * 0.65, 0, 1), 1)  # 11 distinct values
    m = binary_metrics(labels, probabilities)
    assert m["roc_auc"] == pytest.approx(brute_force_auc(labels, probabilities), abs=1e-12)


def test_roc_curve_shape_and_downsampling() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 5000)
    probabilities = np.clip(0.3 * labels + 0.7 * rng.random(5000), 0, 1)
    m = binary_metrics(labels, probabilities)
    curve = m["roc_curve"]
    assert len(curve["fpr"]) == len(curve["tpr"]) == len(curve["thresholds"]) <= MAX_CURVE_POINTS
    assert (curve["fpr"][0], curve["tpr"][0], curve["thresholds"][0]) == (0.0, 0.0, None)
    assert (curve["fpr"][-1], curve["tpr"][-1]) == (1.0, 1.0)
    assert np.all(np.diff(curve["fpr"]) >= 0) and np.all(np.diff(curve["tpr"]) >= 0)
    assert np.all(np.diff(curve["thresholds"][1:]) < 0)
    # The AUC comes from the full curve, not the downsampled one.
    assert m["roc_auc"] == pytest.approx(brute_force_auc(labels, probabilities), abs=1e-12)


def test_small_roc_curve_is_exact() -> None:
    curve = binary_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.5, 0.5, 0.9]))["roc_curve"]
    assert curve == {
        "fpr": [0.0, 0.0, 0.5, 1.0],
        "tpr": [0.0, 0.5, 1.0, 1.0],
        "thresholds": [None, 0.9, 0.5, 0.1],
    }


def test_only_deepfakes_reports_detection_rate() -> None:
    m = binary_metrics(np.ones(5, dtype=int), np.array([0.9, 0.8, 0.7, 0.6, 0.2]))
    assert m["recall"] == 0.8 and m["false_negative_rate"] == pytest.approx(0.2)
    assert m["precision"] == 1.0
    assert m["specificity"] is None and m["false_positive_rate"] is None
    assert m["roc_auc"] is None and m["roc_curve"] is None
    report = m["classification_report"]
    assert report["Real"] == {"precision": 0.0, "recall": None, "f1": 0.0, "support": 0}
    # Averages run over the classes present: here only Deepfake.
    assert report["macro avg"]["recall"] == report["weighted avg"]["recall"] == 0.8
    json.dumps(m, allow_nan=False)


def test_only_reals_reports_false_positive_rate() -> None:
    m = binary_metrics(np.zeros(4, dtype=int), np.array([0.1, 0.2, 0.3, 0.6]))
    assert m["false_positive_rate"] == 0.25 and m["specificity"] == 0.75
    assert m["recall"] is None and m["false_negative_rate"] is None
    assert m["precision"] == 0.0 and m["f1"] == 0.0  # one real flagged, no fake to find
    assert m["roc_auc"] is None and m["roc_curve"] is None
    json.dumps(m, allow_nan=False)


def test_zero_denominators_are_none_not_nan() -> None:
    m = binary_metrics(np.zeros(3, dtype=int), np.array([0.1, 0.2, 0.3]))
    assert m["precision"] is None  # nothing flagged
    assert m["f1"] is None  # no fakes and nothing flagged
    undefined = {"precision": None, "recall": None, "f1": None, "support": 0}
    assert m["classification_report"]["Deepfake"] == undefined
    json.dumps(m, allow_nan=False)


def test_classification_report_matches_scikit_learn_layout() -> None:
    # tn=3, fp=1, fn=2, tp=2; each class scored as the positive one, as scikit-learn does.
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    probabilities = np.array([0.1, 0.2, 0.3, 0.8, 0.1, 0.4, 0.6, 0.9])
    report = binary_metrics(labels, probabilities)["classification_report"]
    assert report["Real"] == pytest.approx({"precision": 3 / 5, "recall": 3 / 4, "f1": 2 / 3, "support": 4})
    deepfake = {"precision": 2 / 3, "recall": 1 / 2, "f1": 4 / 7, "support": 4}
    assert report["Deepfake"] == pytest.approx(deepfake)
    assert report["accuracy"] == 5 / 8
    assert report["macro avg"] == pytest.approx(
        {"precision": (3 / 5 + 2 / 3) / 2, "recall": 5 / 8, "f1": (2 / 3 + 4 / 7) / 2, "support": 8}
    )
    weighted = binary_metrics(np.array([0, 1, 1, 1]), np.array([0.6, 0.7, 0.8, 0.2]))["classification_report"]
    # Real: p=0/1, r=0/1, f1=0; Deepfake: p=2/3, r=2/3, f1=2/3; weights 1 and 3.
    assert weighted["Real"]["precision"] == 0.0
    assert weighted["weighted avg"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 4}


def test_class_never_predicted_counts_as_zero_precision_in_averages() -> None:
    report = binary_metrics(np.array([0, 0, 1, 1]), np.array([0.6, 0.7, 0.8, 0.9]))["classification_report"]
    assert report["Real"]["precision"] is None
    assert report["macro avg"]["precision"] == 0.25  # (0 + 0.5) / 2


def test_expected_calibration_error_hand_computed() -> None:
    # Bin of 0.2: mean 0.2, observed 0.5; bin of 0.8: mean 0.8, observed 1.0; each holds half the images.
    labels = np.array([0, 1, 1, 1])
    probabilities = np.array([0.2, 0.2, 0.8, 0.8])
    assert expected_calibration_error(labels, probabilities) == pytest.approx(0.5 * 0.3 + 0.5 * 0.2)
    assert binary_metrics(labels, probabilities)["ece"] == pytest.approx(0.25)
    assert expected_calibration_error(np.array([0, 1, 0, 1]), np.full(4, 0.5)) == 0.0
    # One bin puts everything together: |mean(p) - mean(y)| = |0.5 - 0.75|.
    assert expected_calibration_error(labels, probabilities, bins=1) == pytest.approx(0.25)


def test_reliability_bins() -> None:
    labels = np.array([0, 1, 1, 0, 1])
    probabilities = np.array([0.0, 0.05, 1.0, 0.98, 0.5])
    bins = binary_metrics(labels, probabilities)["reliability"]
    assert len(bins) == 15
    assert bins[0]["lower"] == 0.0 and bins[-1]["upper"] == 1.0
    assert sum(b["count"] for b in bins) == 5
    assert bins[0] == pytest.approx(
        {"lower": 0.0, "upper": 1 / 15, "count": 2, "mean_confidence": 0.025, "observed_frequency": 0.5}
    )
    assert bins[-1]["count"] == 2  # 1.0 belongs to the last bin
    assert bins[-1]["mean_confidence"] == pytest.approx(0.99)
    assert bins[1] == {
        "lower": bins[1]["lower"],
        "upper": bins[1]["upper"],
        "count": 0,
        "mean_confidence": None,
        "observed_frequency": None,
    }


def test_log_loss_is_clipped() -> None:
    m = binary_metrics(np.array([1, 0]), np.array([0.0, 1.0]))
    assert math.isfinite(m["log_loss"]) and m["log_loss"] == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_accepts_keras_column_and_bool_labels() -> None:
    m = binary_metrics(np.array([False, True]), np.array([[0.2], [0.9]]))
    assert m["accuracy"] == 1.0 and m["count"] == 2


def test_results_are_plain_json() -> None:
    rng = np.random.default_rng(2)
    m = binary_metrics(rng.integers(0, 2, 50), rng.random(50).astype(np.float32), threshold=0.4)
    assert json.loads(json.dumps(m, allow_nan=False)) == m


@pytest.mark.parametrize(
    ("labels", "probabilities", "message"),
    [
        ([], [], "empty"),
        ([0, 1], [0.5], "differ in length"),
        ([0, 2], [0.5, 0.5], "0 \\(real\\) or 1"),
        ([0, 1], [0.5, float("nan")], "not NaN.*index 1"),
        ([0, 1], [-0.1, 0.5], "in \\[0, 1\\]"),
        ([0, 1], [0.5, 1.2], "in \\[0, 1\\]"),
        ([[0, 1]], [[0.5, 0.5]], "one-dimensional"),
    ],
)
def test_invalid_inputs_raise_clear_errors(labels: list, probabilities: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        binary_metrics(np.array(labels), np.array(probabilities))
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(np.array(labels), np.array(probabilities))


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan")])
def test_invalid_threshold(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        binary_metrics(np.array([0, 1]), np.array([0.2, 0.8]), threshold=threshold)


@pytest.mark.parametrize("bins", [0, -3, 2.5, True])
def test_invalid_bin_count(bins: object) -> None:
    with pytest.raises(ValueError, match="bins"):
        expected_calibration_error(np.array([0, 1]), np.array([0.2, 0.8]), bins=bins)  # type: ignore

"""training.models: the paper baseline exactly as published, and the browser-sized default with its evidence map."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from unmask.training.calibration import Calibration  # noqa: E402
from unmask.training.models import build, calibrated, phase_averaged  # noqa: E402


@pytest.fixture(scope="module")
def paper():
    return build("paper")


@pytest.fixture(scope="module")
def unmasknet():
    keras.utils.set_random_seed(3)
    return build("unmasknet")


def test_paper_cnn_is_exactly_the_published_architecture(paper) -> None:
    layers = [layer for layer in paper.layers if not isinstance(layer, keras.layers.InputLayer)]
    described = []
    for layer in layers:
        if isinstance(layer, keras.layers.Conv2D):
            described.append(("conv", layer.filters, tuple(layer.kernel_size), layer.activation.__name__))
        elif isinstance(layer, keras.layers.MaxPooling2D):
            described.append(("maxpool", tuple(layer.pool_size)))
        elif isinstance(layer, keras.layers.Flatten):
            described.append(("flatten",))
        elif isinstance(layer, keras.layers.Dense):
            described.append(("dense", layer.units, layer.activation.__name__))
        elif isinstance(layer, keras.layers.Activation):
            described.append(("activation", layer.activation.__name__))
        else:
            described.append(("unexpected", type(layer).__name__))
    assert described == [
        ("conv", 32, (3, 3), "relu"),
        ("maxpool", (2, 2)),
        ("conv", 64, (3, 3), "relu"),
        ("maxpool", (2, 2)),
        ("conv", 128, (3, 3), "relu"),
        ("maxpool", (2, 2)),
        ("flatten",),
        ("dense", 512, "relu"),
        ("dense", 1, "linear"),
        ("activation", "sigmoid"),
    ]


def test_paper_cnn_takes_128x128x3_and_gives_one_probability(paper) -> None:
    assert tuple(paper.input_shape) == (None, 128, 128, 3)
    assert tuple(paper.output_shape) == (None, 1)
    # 'valid' convolutions as published: 128 -> 126 -> 63 -> 61 -> 30 -> 28 -> 14, so 14*14*128 features.
    assert paper.get_layer(index=-3).input.shape[-1] == 14 * 14 * 128


def test_paper_cnn_names_its_logit(paper) -> None:
    assert paper.get_layer("logit").units == 1


def test_unmasknet_export_fits_in_one_megabyte(unmasknet) -> None:
    assert unmasknet.count_params() * 4 <= 1_000_000


def test_unmasknet_has_an_8x8_evidence_map_and_a_logit(unmasknet) -> None:
    assert tuple(unmasknet.get_layer("evidence").output.shape) == (None, 8, 8, 1)
    assert tuple(unmasknet.get_layer("logit").output.shape) == (None, 1)
    assert tuple(unmasknet.input_shape) == (None, 128, 128, 3)


def test_unmasknet_logit_is_the_mean_of_its_evidence(unmasknet) -> None:
    probe = keras.Model(unmasknet.input, [unmasknet.get_layer("evidence").output, unmasknet.get_layer("logit").output])
    x = np.random.default_rng(0).random((2, 128, 128, 3), dtype=np.float32)
    evidence, logit = probe.predict(x, verbose=0)
    np.testing.assert_allclose(logit.reshape(-1), evidence.mean(axis=(1, 2, 3)), rtol=1e-5, atol=1e-6)


def test_calibrated_model_applies_scale_and_offset_to_probability_and_evidence() -> None:
    keras.utils.set_random_seed(4)
    model = build("unmasknet")
    # Random weights give an almost constant map: shrink the BatchNorm variances so that features differ
    # across images and regions, then rescale the evidence layer so the raw map spans a few units around 0.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma, beta, mean, np.full_like(variance, 0.3)])
    x = np.zeros((3, 128, 128, 3), dtype=np.float32)
    x[0, :, :64] = 1.0
    x[1, :64] = 0.7
    x[2] = np.random.default_rng(1).random((128, 128, 3))
    evidence_layer = model.get_layer("evidence")
    raw_model = keras.Model(model.input, evidence_layer.output)
    raw = raw_model.predict(x, verbose=0)
    kernel, bias = evidence_layer.get_weights()
    factor = 2.0 / raw.std()
    evidence_layer.set_weights([kernel * factor, (bias - raw.mean()) * factor])
    raw = np.asarray(phase_averaged(model).predict(x, verbose=0)["evidence"], dtype=np.float64)
    assert 1.0 < raw.std() < 4.0

    scale, offset = 0.6, -0.45
    outputs = calibrated(model, Calibration(scale, offset)).predict(x, verbose=0)

    np.testing.assert_allclose(outputs["evidence"], scale * raw + offset, rtol=1e-4, atol=1e-4)
    expected = 1 / (1 + np.exp(-(scale * raw.mean(axis=(1, 2, 3)) + offset)))
    assert np.ptp(expected) > 0.05  # the three images really get different probabilities
    np.testing.assert_allclose(np.asarray(outputs["probability"]).reshape(-1), expected, rtol=1e-4, atol=1e-5)


def moved(images: np.ndarray, right: int, down: int) -> np.ndarray:
    """What PhaseViews makes of a batch for one phase: moved right and down, the edge pixels repeated."""
    height, width = images.shape[1:3]
    return np.pad(images, ((0, 0), (down, 0), (right, 0), (0, 0)), mode="edge")[:, :height, :width]


def test_phase_averaged_logit_and_evidence_are_means_over_every_one_pixel_phase(npr) -> None:
    images = np.random.default_rng(3).random((3, 128, 128, 3), dtype=np.float32)
    single = keras.Model(
        npr.input, {"logit": npr.get_layer("logit").output, "evidence": npr.get_layer("evidence").output}
    )
    views = [single.predict(moved(images, right, down), verbose=0) for right, down in ((0, 0), (1, 0), (0, 1), (1, 1))]
    averaged = phase_averaged(npr).predict(images, batch_size=2, verbose=0)  # batches split as Keras likes
    for name in ("logit", "evidence"):
        np.testing.assert_allclose(averaged[name], np.mean([v[name] for v in views], axis=0), rtol=1e-4, atol=1e-5)
    # Each move changes the raw logits: the mean is not trivial.
    assert all(np.ptp(views[0]["logit"] - v["logit"]) > 0 for v in views[1:])


def test_calibrated_paper_model_has_only_a_probability(paper) -> None:
    outputs = calibrated(paper, Calibration(2.0, 1.0)).output
    assert set(outputs) == {"probability"}


def test_unknown_architecture_is_a_value_error_listing_the_choices() -> None:
    with pytest.raises(ValueError, match="unmasknet.*paper|paper.*unmasknet"):
        build("resnet9000")


@pytest.fixture(scope="module")
def npr():
    keras.utils.set_random_seed(5)
    return build("npr")


def test_npr_fits_the_browser_budget(npr) -> None:
    # float32 weights: the exported model must stay under 2 MB for the page to load it quickly.
    assert npr.count_params() * 4 <= 2_000_000


def test_npr_has_a_16x16_evidence_map_whose_mean_is_the_logit(npr) -> None:
    assert tuple(npr.input_shape) == (None, 128, 128, 3)
    assert tuple(npr.get_layer("evidence").output.shape) == (None, 16, 16, 1)
    probe = keras.Model(npr.input, [npr.get_layer("evidence").output, npr.get_layer("logit").output])
    evidence, logit = probe.predict(np.random.default_rng(0).random((2, 128, 128, 3), dtype=np.float32), verbose=0)
    np.testing.assert_allclose(logit.reshape(-1), evidence.mean(axis=(1, 2, 3)), rtol=1e-5, atol=1e-6)


def test_npr_sees_only_the_fine_residual_not_the_content(npr) -> None:
    # Anything constant on each 2x2 cell (a face's colours and shapes at half resolution) leaves the residual
    # the model reads at zero; a change inside the cells shows, at full strength.
    rng = np.random.default_rng(1)
    coarse = np.repeat(np.repeat(rng.random((2, 64, 64, 3), dtype=np.float32), 2, axis=1), 2, axis=2)
    residual = keras.Model(npr.input, npr.get_layer("npr_residual").output)
    np.testing.assert_allclose(residual.predict(coarse, verbose=0), 0.0, atol=1e-6)
    detail = np.zeros_like(coarse)
    detail[:, ::2, ::2] = 0.1
    np.testing.assert_allclose(residual.predict(coarse + detail, verbose=0)[:, ::2, ::2], 0.075, atol=1e-5)

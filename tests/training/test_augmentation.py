"""training.augment: random variants that keep the face and give every class and source the same history."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from unmask.training.augment import AugmentConfig, augment
from unmask.training.preprocessing import INPUT_SIZE, resize_to_input, to_array

# Everything off: the output is then just the model input of the source.
NOTHING = AugmentConfig(
    flip=0.0,
    zoom=(1.0, 1.0),
    colour_probability=0.0,
    greyscale_probability=0.0,
    blur_probability=0.0,
    first_jpeg_probability=0.0,
    downscale_probability=0.0,
    jpeg_probability=0.0,
    native_crop_probability=0.0,
    framing=(1.0, 1.0),
    noise_probability=0.0,
)
DEFAULT = AugmentConfig()


def source_image(seed: int = 0, size: int = 128) -> np.ndarray:
    """A 'face': a bright disc on a dark gradient, with some fine texture so that blur and JPEG show."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    picture = 60 + 40 * x[..., None] + np.zeros(3)
    picture[(x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.08] = (220, 170, 140)
    picture += rng.normal(0, 25, picture.shape)
    return np.clip(picture, 0, 255).astype(np.uint8)


def high_frequency_energy(pixels: np.ndarray) -> float:
    grey = pixels.mean(axis=2)
    return float(np.mean(np.abs(np.diff(grey, axis=0))) + np.mean(np.abs(np.diff(grey, axis=1))))


def test_output_is_a_model_input() -> None:
    out = augment(source_image(), np.random.default_rng(0))
    assert out.shape == (INPUT_SIZE, INPUT_SIZE, 3)
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_same_seed_gives_the_same_variant() -> None:
    # augment() takes no label: a real and a deepfake picture get their history from the same draw.
    source = source_image()
    np.testing.assert_array_equal(augment(source, np.random.default_rng(5)), augment(source, np.random.default_rng(5)))


def test_different_seeds_give_different_variants() -> None:
    source = source_image()
    assert not np.array_equal(augment(source, np.random.default_rng(5)), augment(source, np.random.default_rng(6)))


def test_with_everything_off_it_is_the_plain_model_input() -> None:
    source = source_image()
    expected = to_array(resize_to_input(Image.fromarray(source)))
    np.testing.assert_allclose(augment(source, np.random.default_rng(0), NOTHING), expected, atol=1 / 255 + 1e-6)


def test_flip_mirrors_left_and_right() -> None:
    source = np.zeros((64, 64, 3), dtype=np.uint8)
    source[:, :32] = (255, 0, 0)
    source[:, 32:] = (0, 0, 255)
    out = augment(source, np.random.default_rng(0), replace(NOTHING, flip=1.0))
    assert out[:, :60, 2].mean() > 0.95 and out[:, :60, 0].mean() < 0.05  # blue now on the left
    assert out[:, 68:, 0].mean() > 0.95 and out[:, 68:, 2].mean() < 0.05


def test_zoom_crops_keep_the_face_and_never_enlarge_a_small_source() -> None:
    large = source_image(size=256)
    for seed in range(8):
        out = augment(large, np.random.default_rng(seed), replace(NOTHING, zoom=DEFAULT.zoom))
        centre = out[54:74, 54:74].reshape(-1, 3).mean(axis=0)
        np.testing.assert_allclose(centre, np.array([220, 170, 140]) / 255, atol=0.08)
    # A source no larger than the input is never cropped smaller (which would enlarge it): only flips apply.
    small = source_image(size=INPUT_SIZE)
    plain = augment(small, np.random.default_rng(0), NOTHING)
    for seed in range(8):
        np.testing.assert_array_equal(
            augment(small, np.random.default_rng(seed), replace(NOTHING, zoom=(0.5, 0.9))), plain
        )


def test_downscaling_never_goes_below_the_input_size(monkeypatch) -> None:
    sides = []
    original = Image.Image.resize

    def recording_resize(self, size, *args, **kwargs):
        sides.append(size[0])
        return original(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", recording_resize)
    config = replace(NOTHING, downscale_probability=1.0)
    for seed in range(20):
        augment(source_image(size=300), np.random.default_rng(seed), config)
    assert min(sides) >= INPUT_SIZE and len(set(sides)) > 5


def test_native_crops_keep_the_pixels_of_a_larger_source() -> None:
    source = source_image(size=200)
    out = augment(source, np.random.default_rng(3), replace(NOTHING, native_crop_probability=1.0))
    pixels = np.round(out * 255).astype(np.uint8)
    offsets = range(200 - INPUT_SIZE + 1)
    assert any(
        np.array_equal(source[top : top + INPUT_SIZE, left : left + INPUT_SIZE], pixels)
        for top in offsets
        for left in offsets
    )


def test_framing_moves_and_scales_the_square_a_little() -> None:
    source = source_image(size=256)
    plain = augment(source, np.random.default_rng(0), NOTHING)
    framed = [
        augment(source, np.random.default_rng(seed), replace(NOTHING, framing=DEFAULT.framing)) for seed in range(6)
    ]
    assert sum(not np.array_equal(out, plain) for out in framed) >= 4
    # The same face, a little moved: the centre keeps its colour.
    for out in framed:
        np.testing.assert_allclose(
            out[54:74, 54:74].reshape(-1, 3).mean(axis=0), plain[54:74, 54:74].reshape(-1, 3).mean(axis=0), atol=0.05
        )


def test_framing_never_enlarges_a_source_of_the_input_size() -> None:
    small = source_image(size=INPUT_SIZE)
    plain = augment(small, np.random.default_rng(0), NOTHING)
    for seed in range(8):
        np.testing.assert_array_equal(
            augment(small, np.random.default_rng(seed), replace(NOTHING, framing=(0.5, 0.9))), plain
        )


def test_default_augmentation_keeps_the_mean_colour_roughly() -> None:
    source = source_image()
    plain_mean = augment(source, np.random.default_rng(0), NOTHING).mean()
    means = [augment(source, np.random.default_rng(seed)).mean() for seed in range(10)]
    assert abs(np.mean(means) - plain_mean) < 0.05
    assert max(abs(m - plain_mean) for m in means) < 0.2


def _changed_fraction(config: AugmentConfig, draws: int = 30) -> float:
    source = source_image(size=192)
    plain = augment(source, np.random.default_rng(0), NOTHING)
    return float(
        np.mean(
            [not np.array_equal(augment(source, np.random.default_rng(seed), config), plain) for seed in range(draws)]
        )
    )


@pytest.mark.parametrize(
    "only",
    [
        {"jpeg_probability": DEFAULT.jpeg_probability},
        {"first_jpeg_probability": DEFAULT.first_jpeg_probability},
        {"downscale_probability": DEFAULT.downscale_probability},
        {"blur_probability": DEFAULT.blur_probability},
    ],
    ids=["jpeg", "first-jpeg", "downscale", "blur"],
)
def test_each_robustness_step_happens_sometimes_not_always(only) -> None:
    # With every other step off, the step under test changes some draws (it happens) but not all of them
    # (it is random, at its default probability).
    fraction = _changed_fraction(replace(NOTHING, **only))
    assert 0.0 < fraction < 1.0


def test_blur_removes_fine_detail() -> None:
    source = source_image(size=96)
    plain = high_frequency_energy(augment(source, np.random.default_rng(0), NOTHING))
    blurred = high_frequency_energy(augment(source, np.random.default_rng(0), replace(NOTHING, blur_probability=1.0)))
    assert blurred < 0.8 * plain


def test_jpeg_step_leaves_8x8_block_artefacts() -> None:
    # A smooth ramp has no block edges; after JPEG its 8-pixel grid shows (as seen at the source resolution).
    ramp = np.tile(np.linspace(0, 255, 224)[None, :, None], (224, 1, 3)).astype(np.uint8)
    ramp = np.clip(ramp.astype(float) + np.random.default_rng(0).normal(0, 6, ramp.shape), 0, 255).astype(np.uint8)
    config = replace(NOTHING, jpeg_probability=1.0, jpeg_quality=(60, 60))
    out = augment(ramp, np.random.default_rng(0), config)
    plain = augment(ramp, np.random.default_rng(0), NOTHING)
    assert np.abs(out - plain).max() > 0.02


def test_default_augmentation_varies_fine_detail_widely() -> None:
    # Blur, rescaling and JPEG each change how much fine detail survives: over many draws the
    # high-frequency energy spreads, both below and close to the untouched image's.
    source = source_image(size=192)
    plain = high_frequency_energy(augment(source, np.random.default_rng(0), NOTHING))
    energies = np.array([high_frequency_energy(augment(source, np.random.default_rng(seed))) for seed in range(30)])
    assert energies.min() < 0.6 * plain
    assert energies.max() > 0.85 * plain
    assert energies.std() > 0.1 * plain

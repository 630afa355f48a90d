"""Content-aligned pseudo-fakes: each real training face, halved and enlarged again by a learned upsampler."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

from conftest import face_like  # noqa: E402

from unmask.training import aligned_fakes  # noqa: E402
from unmask.training.aligned_fakes import ALIGNED_GROUP, decode_through, halve, train_upsampler, with_aligned_fakes  # noqa: E402
from unmask.training.data import DEEPFAKE, REAL, DecodedImages  # noqa: E402


@pytest.fixture(autouse=True)
def few_steps(monkeypatch) -> None:
    """Upsamplers fitted for a few steps only: these tests check what is made from them, not their quality."""
    monkeypatch.setattr(aligned_fakes, "TRAINING_STEPS", 10)


def _faces(count: int, size: int = 96) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [face_like(rng, size) for _ in range(count)]


def _training_images(reals: list[np.ndarray], fakes: list[np.ndarray]) -> DecodedImages:
    return DecodedImages(
        images=[*reals, *fakes],
        labels=np.array([REAL] * len(reals) + [DEEPFAKE] * len(fakes)),
        paths=[f"real{i}.png" for i in range(len(reals))] + [f"fake{i}.png" for i in range(len(fakes))],
        groups=["cam/Real"] * len(reals) + ["gan/Deepfake"] * len(fakes),
    )


def test_halve_takes_the_mean_of_each_2x2_cell() -> None:
    images = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    assert halve(images)[0, :, :, 0].tolist() == [[2.5, 4.5], [10.5, 12.5]]


@pytest.mark.parametrize("kind", aligned_fakes.UPSAMPLER_KINDS)
def test_a_pseudo_fake_keeps_its_face_and_size_but_not_its_pixels(kind: str, monkeypatch) -> None:
    monkeypatch.setattr(aligned_fakes, "TRAINING_STEPS", 60)
    faces = _faces(6)
    model, fit = train_upsampler(kind, faces, np.random.default_rng(0))
    made = decode_through(model, faces)
    for face, fake in zip(faces, made, strict=True):
        difference = np.abs(fake.astype(float) - face.astype(float))
        assert fake.shape == face.shape and fake.dtype == np.uint8
        assert difference.mean() < 8  # the same picture, within a few grey levels
        assert difference.max() > 0  # but not the same pixels
    assert fit.kind == kind and fit.l1 < 0.05


def test_an_odd_side_loses_its_last_pixel() -> None:
    model, _ = train_upsampler("nearest", _faces(2), np.random.default_rng(0))
    (made,) = decode_through(model, [face_like(np.random.default_rng(1), 97)])
    assert made.shape == (96, 96, 3)


def test_every_real_face_gets_one_pseudo_fake_in_its_own_group() -> None:
    reals, fakes = _faces(5), _faces(3)
    combined, record = with_aligned_fakes(_training_images(reals, fakes), seed=1)
    assert len(combined) == 5 + 3 + 5 and record["count"] == 5
    assert combined.labels[8:].tolist() == [DEEPFAKE] * 5
    assert combined.groups[8:] == [ALIGNED_GROUP] * 5
    assert combined.paths[8] == "real0.png (aligned)"
    # The originals are kept untouched, first.
    assert all(a is b for a, b in zip(combined.images[:8], [*reals, *fakes], strict=True))


def test_real_faces_smaller_than_a_patch_get_no_pseudo_fake() -> None:
    images = _training_images([*_faces(2), face_like(np.random.default_rng(2), 40)], _faces(1))
    _, record = with_aligned_fakes(images, seed=1)
    assert record["count"] == 2


def test_the_same_seed_makes_the_same_pseudo_fakes() -> None:
    images = _training_images(_faces(3), _faces(1))
    first, _ = with_aligned_fakes(images, seed=5)
    again, _ = with_aligned_fakes(images, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(first.images[4:], again.images[4:], strict=True))


@pytest.mark.parametrize(
    ("flag", "expected"), [([], False), (["--aligned-fakes"], True), (["--no-aligned-fakes"], False)]
)
def test_the_aligned_fakes_flag_reaches_the_recipe(flag: list[str], expected: bool) -> None:
    from unmask.cli import build_parser
    from unmask.training.commands import recipe

    args = build_parser().parse_args(["train", "--data", "somewhere", *flag])
    assert recipe(args, args.arch).aligned_fakes is expected

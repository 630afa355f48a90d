"""training.data: finding class folders, decoding (skipping bad files), splitting, equalising file history."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unmask import UserFacingError
from unmask.training.data import (
    DEEPFAKE,
    REAL,
    Sample,
    decode_images,
    equalise_history,
    find_samples,
    reencoder,
    split_samples,
)


def labels_by_name(samples: list[Sample]) -> dict[str, int]:
    return {s.path.name: s.label for s in samples}


@pytest.mark.parametrize("real, fake", [("Real", "Deepfake"), ("real", "fake"), ("REAL", "FAKE"), ("rEaL", "DeepFake")])
def test_find_samples_accepts_class_folder_names_in_any_case(make_dataset, real, fake) -> None:
    root = make_dataset(classes={real: 2, fake: 3})
    samples = find_samples(root)
    assert len(samples) == 5
    assert sorted(s.label for s in samples) == [REAL, REAL, DEEPFAKE, DEEPFAKE, DEEPFAKE]
    assert all((s.label == REAL) == (s.path.parent.name == real) for s in samples)


def test_find_samples_reads_nested_subfolders(make_dataset) -> None:
    root = make_dataset(classes={"Real": 1, "Real/flickr/2019": 2, "Deepfake/gan/v2": 2})
    samples = find_samples(root)
    assert len(samples) == 5
    assert sum(s.label == DEEPFAKE for s in samples) == 2
    assert all(s.label == REAL for s in samples if "flickr" in s.path.parts)


def test_find_samples_ignores_hidden_files_and_folders(make_dataset) -> None:
    root = make_dataset(classes={"Real": 2, "Deepfake": 2})
    (root / "Real" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "Deepfake" / ".thumbnails").mkdir()
    Image.new("RGB", (16, 16)).save(root / "Deepfake" / ".thumbnails" / "x.png")
    samples = find_samples(root)
    assert len(samples) == 4
    assert not any(part.startswith(".") for s in samples for part in s.path.relative_to(root).parts)


def test_find_samples_works_inside_a_hidden_parent_folder(make_dataset) -> None:
    root = make_dataset(".cache/data", classes={"Real": 2, "Deepfake": 2})
    assert len(find_samples(root)) == 4


def test_find_samples_ignores_folders_that_are_not_classes(make_dataset) -> None:
    root = make_dataset(classes={"Real": 2, "Deepfake": 2, "unsorted": 3})
    assert len(find_samples(root)) == 4


def test_missing_class_folder_is_a_user_facing_error_naming_the_class(make_dataset) -> None:
    root = make_dataset(classes={"Real": 3})
    with pytest.raises(UserFacingError, match="Deepfake"):
        find_samples(root)


def test_empty_class_folder_is_a_user_facing_error(make_dataset) -> None:
    root = make_dataset(classes={"Real": 3, "Deepfake": 0})
    (root / "Deepfake" / ".hidden.png").write_bytes(b"x")
    with pytest.raises(UserFacingError, match=r"no files for class Deepfake.*3 real, 0 deepfake"):
        find_samples(root)


def test_folder_without_class_folders_is_a_user_facing_error(make_dataset) -> None:
    root = make_dataset(classes={"cats": 2, "dogs": 2})
    with pytest.raises(UserFacingError, match="Real.*Deepfake"):
        find_samples(root)


def test_nonexistent_folder_is_a_user_facing_error(tmp_path) -> None:
    with pytest.raises(UserFacingError, match="does not exist"):
        find_samples(tmp_path / "nowhere")


def test_one_class_is_accepted_when_both_are_not_required(make_dataset) -> None:
    root = make_dataset(classes={"fake": 3})
    samples = find_samples(root, require_both_classes=False)
    assert [s.label for s in samples] == [DEEPFAKE] * 3


def test_no_files_at_all_is_an_error_even_when_one_class_is_enough(make_dataset) -> None:
    root = make_dataset(classes={"Real": 0, "Deepfake": 0})
    with pytest.raises(UserFacingError):
        find_samples(root, require_both_classes=False)


def test_decode_images_skips_and_names_unreadable_files_without_stopping(make_dataset) -> None:
    root = make_dataset(classes={"Real": 3, "Deepfake": 3})
    (root / "Real" / "notes.jpg").write_text("not a picture")
    (root / "Deepfake" / "empty.png").write_bytes(b"")
    good = (root / "Deepfake" / "img000.png").read_bytes()
    (root / "Deepfake" / "truncated.png").write_bytes(good[: len(good) // 2])
    Image.new("RGB", (4, 4)).save(root / "Real" / "tiny.png")

    decoded = decode_images(find_samples(root), for_training=False)

    assert len(decoded) == 6
    assert sorted(Path(p).name for p in decoded.paths) == [
        "img000.png",
        "img000.png",
        "img001.png",
        "img001.png",
        "img002.png",
        "img002.png",
    ]
    skipped = {Path(entry["path"]).name: entry["reason"] for entry in decoded.skipped}
    assert set(skipped) == {"notes.jpg", "empty.png", "truncated.png", "tiny.png"}
    assert all(reason.strip() for reason in skipped.values())
    assert "too small" in skipped["tiny.png"]


def test_decode_images_keeps_labels_aligned_with_paths(make_dataset) -> None:
    root = make_dataset(classes={"Real": 3, "Deepfake": 2})
    (root / "Real" / "bad.png").write_text("x")
    decoded = decode_images(find_samples(root), for_training=False)
    for path, label in zip(decoded.paths, decoded.labels, strict=True):
        assert label == (REAL if Path(path).parent.name == "Real" else DEEPFAKE)
    assert decoded.labels.tolist().count(DEEPFAKE) == 2


def test_evaluation_images_are_model_inputs(make_dataset) -> None:
    decoded = decode_images(find_samples(make_dataset(classes={"Real": 1, "Deepfake": 1})), for_training=False)
    assert all(image.shape == (128, 128, 3) and image.dtype == np.float32 for image in decoded.images)


def test_training_images_are_centre_squares_shrunk_to_at_most_256(tmp_path) -> None:
    for folder, size in (("Real", (600, 400)), ("Deepfake", (90, 120))):
        (tmp_path / folder).mkdir()
        Image.new("RGB", size, (10, 20, 30)).save(tmp_path / folder / "a.png")
    decoded = decode_images(find_samples(tmp_path), for_training=True)
    shapes = {Path(p).parent.name: image.shape for p, image in zip(decoded.paths, decoded.images, strict=True)}
    assert shapes == {"Real": (256, 256, 3), "Deepfake": (90, 90, 3)}
    assert all(image.dtype == np.uint8 for image in decoded.images)


def _samples(n_real: int, n_fake: int) -> list[Sample]:
    return [Sample(Path(f"r/{i:03d}.png"), REAL) for i in range(n_real)] + [
        Sample(Path(f"f/{i:03d}.jpg"), DEEPFAKE) for i in range(n_fake)
    ]


def test_split_is_deterministic_for_a_seed_and_ignores_input_order() -> None:
    samples = _samples(50, 30)
    shuffled = samples[:]
    random.Random(1).shuffle(shuffled)
    assert split_samples(samples, 7, 0.2, 0.2) == split_samples(shuffled, 7, 0.2, 0.2)


def test_split_is_stratified() -> None:
    splits = split_samples(_samples(50, 30), 7, 0.2, 0.1)
    counts = {
        name: (sum(s.label == REAL for s in part), sum(s.label == DEEPFAKE for s in part))
        for name, part in splits.items()
    }
    assert counts == {"train": (35, 21), "val": (10, 6), "test": (5, 3)}


def test_split_is_disjoint_and_complete() -> None:
    samples = _samples(50, 30)
    splits = split_samples(samples, 7, 0.2, 0.2)
    paths = [s.path for part in splits.values() for s in part]
    assert len(paths) == len(set(paths)) == len(samples)
    assert set(paths) == {s.path for s in samples}


def test_split_differs_for_another_seed() -> None:
    samples = _samples(50, 30)
    first, second = split_samples(samples, 7, 0.2, 0.2), split_samples(samples, 8, 0.2, 0.2)
    assert {s.path for s in first["test"]} != {s.path for s in second["test"]}


def test_split_rejects_fractions_that_leave_no_training_data() -> None:
    with pytest.raises(UserFacingError):
        split_samples(_samples(10, 10), 0, 0.6, 0.5)


def _jpeg_round(image: Image.Image, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _noise_image(seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (48, 48, 3), dtype=np.uint8))


def test_equalise_history_gives_lossless_sources_exactly_one_jpeg_q75_round() -> None:
    image = _noise_image(1)
    out = np.asarray(equalise_history(image, "PNG"))
    np.testing.assert_array_equal(out, _jpeg_round(image, 75))
    assert not np.array_equal(out, np.asarray(image))


def test_equalise_history_leaves_jpeg_sources_untouched() -> None:
    image = _noise_image(2)
    np.testing.assert_array_equal(np.asarray(equalise_history(image, "JPEG")), np.asarray(image))


def test_decoding_with_equalised_history_recompresses_png_files_but_not_jpeg_files(tmp_path) -> None:
    png, jpeg = _noise_image(3), _noise_image(4)
    (tmp_path / "Real").mkdir()
    (tmp_path / "Deepfake").mkdir()
    png.save(tmp_path / "Real" / "a.png")
    jpeg.save(tmp_path / "Deepfake" / "b.png", format="JPEG", quality=75)  # a JPEG whatever its name says
    decoded = decode_images(find_samples(tmp_path), for_training=True, recode=equalise_history)
    by_class = {Path(p).parent.name: image for p, image in zip(decoded.paths, decoded.images, strict=True)}
    np.testing.assert_array_equal(by_class["Real"], _jpeg_round(png, 75))
    np.testing.assert_array_equal(
        by_class["Deepfake"], np.asarray(Image.open(tmp_path / "Deepfake" / "b.png").convert("RGB"))
    )


def test_reencoder_can_enlarge_before_saving() -> None:
    image = _noise_image(5)
    out = reencoder("PNG", scale=4)(image, "PNG")
    assert out.size == (image.width * 4, image.height * 4)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(image.resize(out.size, Image.Resampling.BICUBIC)))


@pytest.mark.parametrize("format_name, quality", [("JPEG", 95), ("PNG", None)])
def test_reencoder_saves_once_in_the_given_format(format_name, quality) -> None:
    image = _noise_image(5)
    out = np.asarray(reencoder(format_name, quality)(image, "PNG"))
    if format_name == "PNG":
        np.testing.assert_array_equal(out, np.asarray(image))
    else:
        np.testing.assert_array_equal(out, _jpeg_round(image, quality))

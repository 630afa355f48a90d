"""The re-framed probe of the evaluation report: each test face judged on a slightly smaller square inside its crop."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("keras")  # evaluate.py loads models

from unmask.training.data import Sample  # noqa: E402
from unmask.training.evaluate import REFRAMED_SIDE, reframed  # noqa: E402
from unmask.training.preprocessing import INPUT_SIZE  # noqa: E402


def samples(tmp_path: Path, count: int) -> list[Sample]:
    made = []
    for index in range(count):
        path = tmp_path / f"face{index}.png"
        Image.new("RGB", (300, 200), (index * 20, 90, 140)).save(path)
        made.append(Sample(path, 0, "toy"))
    return made


def test_each_reframed_crop_is_a_smaller_square_inside_the_crop(tmp_path) -> None:
    pictures = samples(tmp_path, 12)
    crops = {str(s.path): (40.0, 20.0, 200.0, 180.0) for s in pictures[:6]}  # the rest: no face, centre square
    moved = reframed(pictures, crops)
    for sample in pictures:
        crop = crops.get(str(sample.path), (50.0, 0.0, 250.0, 200.0))
        left, top, right, bottom = moved[str(sample.path)]
        side = crop[2] - crop[0]
        assert right - left == pytest.approx(bottom - top)
        assert REFRAMED_SIDE[0] * side <= right - left <= REFRAMED_SIDE[1] * side
        assert crop[0] <= left and right <= crop[2] and crop[1] <= top and bottom <= crop[3]
    assert len({box[0] - crops.get(k, (50.0,))[0] for k, box in moved.items()}) > 6  # placed at random, not alike


def test_a_crop_at_the_input_size_is_never_shrunk_below_it(tmp_path) -> None:
    pictures = samples(tmp_path, 4)
    crops = {str(s.path): (20.0, 10.0, 20.0 + INPUT_SIZE + 4, 10.0 + INPUT_SIZE + 4) for s in pictures}
    for left, top, right, bottom in reframed(pictures, crops).values():
        assert right - left == pytest.approx(INPUT_SIZE) and bottom - top == pytest.approx(INPUT_SIZE)


def test_reframing_is_the_same_on_every_run(tmp_path) -> None:
    pictures = samples(tmp_path, 3)
    crops = {str(s.path): (10.0, 10.0, 150.0, 150.0) for s in pictures}
    assert reframed(pictures, crops) == reframed(list(reversed(pictures)), crops)

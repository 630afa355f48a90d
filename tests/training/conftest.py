"""Fixtures for the training tests: small images made on the spot, and a tiny folder dataset factory.

Nothing here copies a dataset image: every picture is drawn with NumPy and written with Pillow.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def encode(image: Image.Image, format_name: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format_name, **options)
    return buffer.getvalue()


def face_like(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A smooth picture with a centred blob: a background gradient and a 'face' disc of a random colour."""
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    background = rng.uniform(40, 200, 3)
    picture = background + 50 * (x[..., None] - 0.5) + 30 * (y[..., None] - 0.5)
    disc = (x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.09
    picture[disc] = rng.uniform(120, 230, 3)
    return np.clip(picture, 0, 255).astype(np.uint8)


@pytest.fixture
def encode_image() -> Callable[..., bytes]:
    """`encode_image(pil_image, "PNG", **save_options)` -> the file's bytes."""
    return encode


@pytest.fixture
def make_dataset(tmp_path: Path) -> Callable[..., Path]:
    """`make_dataset(name, {"Real": 5, "Deepfake": 5})` writes a class-folder dataset of small PNGs below
    tmp_path and returns its root. Class folder names are used as given (any case, nested with '/')."""
    rng = np.random.default_rng(0)

    def make(name: str = "data", classes: dict[str, int] | None = None, size: int = 32) -> Path:
        root = tmp_path / name
        for folder, count in (classes or {"Real": 4, "Deepfake": 4}).items():
            directory = root / folder
            directory.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                Image.fromarray(face_like(rng, size)).save(directory / f"img{index:03d}.png")
        return root

    return make


TOY_SIZE = 64


def _toy_picture(rng: np.random.Generator, textured: bool) -> Image.Image:
    y, x = np.mgrid[0:TOY_SIZE, 0:TOY_SIZE] / (TOY_SIZE - 1)
    picture = rng.uniform(60, 180, 3) + 60 * (rng.uniform(-1, 1) * x + rng.uniform(-1, 1) * y)[..., None]
    centre = rng.uniform(0.3, 0.7, 2)
    blob = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 < rng.uniform(0.02, 0.06)
    picture[blob] = rng.uniform(120, 230, 3)
    if textured:
        period = rng.integers(3, 6)
        picture += 45 * np.sin(
            2 * np.pi * (np.arange(TOY_SIZE)[None, :, None] + np.arange(TOY_SIZE)[:, None, None]) / period
        )
    return Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8))


def write_toy_dataset(root: Path, seed: int, classes=("Real", "Deepfake"), count: int = 24) -> Path:
    """Real: smooth gradients with a blob, saved as PNG; deepfakes: the same with a strong periodic texture,
    saved as JPEG (so history equalisation has something to do)."""
    rng = np.random.default_rng(seed)
    for folder in classes:
        directory = root / folder
        directory.mkdir(parents=True)
        for index in range(count):
            if folder == "Real":
                _toy_picture(rng, textured=False).save(directory / f"r{index:02d}.png")
            else:
                _toy_picture(rng, textured=True).save(directory / f"f{index:02d}.jpg", quality=90)
    return root

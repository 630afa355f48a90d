"""Pictures with faces in known places, made from the real faces in ../shared/data (tests that use them skip
when it is absent): a face pasted into a scene, at an edge, in a group, and pictures with no face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
# Generated faces the shipped model scores high, and real photos, each a tight crop.
FAKE_FACES = DATA_ROOT / "generated-photos" / "Deepfake"
REAL_FACES = DATA_ROOT / "utkface" / "Real"


def real_face_files(folder: Path, count: int) -> list[Path]:
    if not folder.is_dir():
        pytest.skip(f"needs the face data in {folder} (the shared data folder beside the project)")
    return sorted(folder.iterdir())[:count]


def scene(width: int, height: int, seed: int = 0) -> Image.Image:
    """A face-free backdrop: smooth colour gradients with soft noise, like a wall or sky."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([90 + 60 * x / width, 110 + 40 * y / height, 140 - 50 * x / width], axis=-1)
    noisy = base + rng.normal(0, 6, (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def paste(backdrop: Image.Image, face_file: Path, left: int, top: int, side: int) -> tuple[int, int, int, int]:
    """Pastes a face picture resized to `side` at (left, top); returns where it landed."""
    face = Image.open(face_file).convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
    backdrop.paste(face, (left, top))
    return (left, top, left + side, top + side)


def inside(box: dict, region: tuple[int, int, int, int], slack: float = 0.1) -> bool:
    """Whether a detector box (dict of left, top, width, height) lies in `region`, give or take `slack`."""
    left, top, right, bottom = region
    margin = slack * (right - left)
    return (box["left"] >= left - margin and box["top"] >= top - margin
            and box["left"] + box["width"] <= right + margin and box["top"] + box["height"] <= bottom + margin)

"""Pictures with faces in known places, made from the real faces in ../shared/data (tests that use them skip
when it is absent): a face pasted into a scene, at an edge, in a group, and pictures with no face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

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
    return (
        box["left"] >= left - margin
        and box["top"] >= top - margin
        and box["left"] + box["width"] <= right + margin
        and box["top"] + box["height"] <= bottom + margin
    )


def drawn_face(side: int, seed: int = 0) -> Image.Image:
    """A drawn face (skin oval, hair, eyes, brows, nose, mouth) that the face detector finds: for tests that need
    a face but no real photo. Never a face the model has an opinion about."""
    rng = np.random.default_rng(seed)
    picture = Image.new("RGB", (side, side), tuple(int(v) for v in rng.uniform(60, 200, 3)))
    draw = ImageDraw.Draw(picture)
    skin = (224, 172, 140)
    draw.ellipse([side * 0.22, side * 0.12, side * 0.78, side * 0.9], fill=skin)
    draw.ellipse([side * 0.2, side * 0.02, side * 0.8, side * 0.35], fill=(60, 40, 30))
    draw.ellipse([side * 0.22, side * 0.18, side * 0.78, side * 0.5], fill=skin)
    for x in (0.37, 0.63):
        draw.ellipse([side * (x - 0.07), side * 0.43, side * (x + 0.07), side * 0.5], fill=(250, 250, 250))
        draw.ellipse([side * (x - 0.03), side * 0.435, side * (x + 0.03), side * 0.495], fill=(50, 30, 20))
        draw.line(
            [side * (x - 0.08), side * 0.39, side * (x + 0.08), side * 0.38],
            fill=(70, 50, 40),
            width=max(1, side // 40),
        )
    draw.polygon(
        [(side * 0.5, side * 0.5), (side * 0.46, side * 0.64), (side * 0.54, side * 0.64)], fill=(200, 140, 110)
    )
    draw.chord([side * 0.4, side * 0.68, side * 0.6, side * 0.78], 0, 180, fill=(170, 60, 60))
    return picture.filter(ImageFilter.GaussianBlur(side / 200))


def with_face(pixels: np.ndarray, seed: int = 0) -> np.ndarray:
    """An RGB picture with a drawn face in its middle, 60% of its shorter side."""
    height, width = pixels.shape[:2]
    side = int(min(width, height) * 0.6)
    picture = Image.fromarray(pixels)
    picture.paste(drawn_face(side, seed), ((width - side) // 2, (height - side) // 2))
    return np.asarray(picture)

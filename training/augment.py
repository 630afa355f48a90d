"""Augmentation for robustness: what happens to a face photo between the camera and our model.

The paper's flip, rotation and zoom, plus what the hidden test sets will vary: resolution, resampling
filter, blur, colour, noise and, last, JPEG compression at a random quality, the way a real file is made.
Both classes go through exactly the same steps, so none of them can tell real from fake on its own.

Everything runs in Pillow and NumPy, outside the model, so the same pipeline feeds Keras on any backend.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from training.preprocessing import RESAMPLE, resize_to_input, to_array

# Filters other software may use to resize: the model should not depend on ours.
OTHER_FILTERS = (Image.Resampling.BICUBIC, Image.Resampling.LANCZOS, Image.Resampling.BOX,
                 Image.Resampling.NEAREST, Image.Resampling.HAMMING)


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5
    rotation_degrees: float = 12.0
    zoom: tuple[float, float] = (0.75, 1.0)  # side of the crop, as a fraction of the source
    rescale: tuple[float, float] = (0.4, 2.0)  # resolution the photo is "taken" at, relative to the source
    rescale_probability: float = 0.7
    colour_probability: float = 0.6
    colour_strength: float = 0.2
    greyscale_probability: float = 0.05
    blur_probability: float = 0.25
    blur_radius: tuple[float, float] = (0.3, 1.5)
    jpeg_probability: float = 0.75
    jpeg_quality: tuple[int, int] = (35, 98)
    other_filter_probability: float = 0.25
    noise_probability: float = 0.15
    noise_sigma: tuple[float, float] = (0.005, 0.03)


def augment(source: np.ndarray, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """One random variant of a square uint8 source image, as a model input (224x224x3 float32 in [0, 1])."""
    image = _geometry(Image.fromarray(source), rng, config)
    image = _colour(image, rng, config)
    if rng.random() < config.blur_probability:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*config.blur_radius)))
    if rng.random() < config.rescale_probability:
        side = max(32, round(image.size[0] * rng.uniform(*config.rescale)))
        image = image.resize((side, side), _random_filter(rng, 1.0))
    if rng.random() < config.jpeg_probability:
        image = _jpeg(image, int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1)), rng)
    pixels = to_array(resize_to_input(image, resample=_random_filter(rng, config.other_filter_probability)))
    if rng.random() < config.noise_probability:
        pixels = np.clip(pixels + rng.normal(0, rng.uniform(*config.noise_sigma), pixels.shape), 0, 1)
    return pixels.astype(np.float32)


def _random_filter(rng: np.random.Generator, probability_other: float) -> Image.Resampling:
    if rng.random() < probability_other:
        return OTHER_FILTERS[rng.integers(len(OTHER_FILTERS))]
    return RESAMPLE


def _geometry(image: Image.Image, rng: np.random.Generator, config: AugmentConfig) -> Image.Image:
    """Flip, then a rotated square crop (zoom) that stays inside the picture, at the source resolution."""
    if rng.random() < config.flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    side = image.size[0]
    angle = math.radians(rng.uniform(-config.rotation_degrees, config.rotation_degrees))
    # The largest crop of this angle whose corners stay inside the source square.
    fits = 1.0 / (abs(math.cos(angle)) + abs(math.sin(angle)))
    crop = side * min(rng.uniform(*config.zoom), fits)
    slack = (side * fits - crop) / 2
    centre_x = side / 2 + rng.uniform(-slack, slack)
    centre_y = side / 2 + rng.uniform(-slack, slack)
    # Affine map from output pixel (u, v) to source pixel: rotate and scale about the crop's centre.
    scale = crop / side
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    offset_x = centre_x - cos * side / 2 + sin * side / 2
    offset_y = centre_y - sin * side / 2 - cos * side / 2
    return image.transform((side, side), Image.Transform.AFFINE, (cos, -sin, offset_x, sin, cos, offset_y),
                           resample=Image.Resampling.BILINEAR)


def _colour(image: Image.Image, rng: np.random.Generator, config: AugmentConfig) -> Image.Image:
    if rng.random() < config.greyscale_probability:
        return image.convert("L").convert("RGB")
    if rng.random() < config.colour_probability:
        for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            factor = 1 + rng.uniform(-config.colour_strength, config.colour_strength)
            image = enhancer(image).enhance(factor)
    return image


def _jpeg(image: Image.Image, quality: int, rng: np.random.Generator) -> Image.Image:
    buffer = io.BytesIO()
    # Cameras and most software subsample chroma (4:2:0); high-quality exports often keep it (4:4:4).
    subsampling = 0 if quality >= 90 and rng.random() < 0.5 else 2
    image.save(buffer, format="JPEG", quality=quality, subsampling=subsampling)
    return Image.open(buffer).convert("RGB")


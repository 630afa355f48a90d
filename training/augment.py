"""Augmentation: give every image, of either class and any source, the same kind of processing history.

Each source reaches us with its own history (FFHQ as lossless 128 px PNGs, UTKFace as 200 px JPEG q75, LFW as
250 px JPEG q90 and its swaps q95, Generated Photos as 512 px q92...). A network learns such differences
before it learns faces ("Fake or JPEG?", 2024). So every training image, whatever its class, goes through the
same random history, the way a picture travels between its maker and our model:

1. flip, and a random square crop when the source is larger than the model input (never smaller);
2. a little colour change and, rarely, blur or greyscale (both classes: "blurry = real" must not pay);
3. sometimes a JPEG round at quality 60-100 at the source resolution (a first publication);
4. often a random downscale, with a random filter, to a side between the model input and the source's:
   never below the input size, so no face is ever enlarged and the finest traces stay where they survive;
5. a JPEG round at quality 60-100 most of the time, sometimes a second one;
6. the model input, framed as a face detector frames it: never twice alike. Usually a slightly smaller square
   (90-100% of the side) at a random place, resized to 128 by the shared preprocessing; sometimes a random
   128 px crop at the current resolution (native pixels of a larger face).

The detector frames a face a little differently in every picture it stands in (bench/framing_stability.py:
a few pixels off, about 1% larger or smaller, up to 8%), and the model reads the finest pixels: step 6 shows it
faces framed that way. (Also asking two framings of one picture for the same score, as a loss term, cost more
accuracy than it bought steadiness: validation AUC 0.86 against 0.94 after 6 epochs, and about as many faces
kept their score in bench/framing_stability.py.)

Everything runs in Pillow and NumPy, outside the model, so the same pipeline feeds Keras on any backend.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from unmask.training.preprocessing import INPUT_SIZE, RESAMPLE, resize_to_input, to_array

# Filters other software uses to shrink pictures: the model should not depend on ours.
DOWNSCALE_FILTERS = (
    Image.Resampling.BILINEAR,
    Image.Resampling.BICUBIC,
    Image.Resampling.LANCZOS,
    Image.Resampling.BOX,
    Image.Resampling.HAMMING,
)


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5
    zoom: tuple[float, float] = (0.8, 1.0)  # side of the random crop, as a fraction of the source
    colour_probability: float = 0.3
    colour_strength: float = 0.15
    greyscale_probability: float = 0.05
    blur_probability: float = 0.1
    blur_radius: tuple[float, float] = (0.3, 1.0)
    first_jpeg_probability: float = 0.4
    downscale_probability: float = 0.6
    jpeg_probability: float = 0.85
    second_jpeg_probability: float = 0.25
    jpeg_quality: tuple[int, int] = (60, 100)
    native_crop_probability: float = 0.3
    framing: tuple[float, float] = (0.9, 1.0)  # side of the final square, as a fraction of the picture's
    noise_probability: float = 0.1
    noise_sigma: tuple[float, float] = (0.003, 0.015)


def augment(source: np.ndarray, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """One random variant of a square uint8 source image, as a model input (128x128x3 float32 in [0, 1])."""
    image = _history(source, rng, config)
    pixels = to_array(_model_input(image, rng, config))
    if rng.random() < config.noise_probability:
        pixels = np.clip(pixels + rng.normal(0, rng.uniform(*config.noise_sigma), pixels.shape), 0, 1)
    return pixels.astype(np.float32)


def _history(source: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> Image.Image:
    """Steps 1-5: a random processing history, at a resolution between the input size and the source's."""
    image = _flip_and_crop(Image.fromarray(source), rng, config)
    image = _colour(image, rng, config)
    if rng.random() < config.blur_probability:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*config.blur_radius)))
    if rng.random() < config.first_jpeg_probability:
        image = _jpeg(image, rng, config)
    if rng.random() < config.downscale_probability and image.size[0] > INPUT_SIZE:
        side = int(rng.integers(INPUT_SIZE, image.size[0] + 1))
        image = image.resize((side, side), DOWNSCALE_FILTERS[rng.integers(len(DOWNSCALE_FILTERS))])
    if rng.random() < config.jpeg_probability:
        image = _jpeg(image, rng, config)
        if rng.random() < config.second_jpeg_probability:
            image = _jpeg(image, rng, config)
    return image


def _flip_and_crop(image: Image.Image, rng: np.random.Generator, config: AugmentConfig) -> Image.Image:
    """Flip, then a random square crop of at least INPUT_SIZE pixels, at the source resolution (no resampling)."""
    if rng.random() < config.flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    side = image.size[0]
    crop = max(min(side, INPUT_SIZE), round(side * rng.uniform(*config.zoom)))
    left, top = (int(rng.integers(0, side - crop + 1)) for _ in range(2))
    return image.crop((left, top, left + crop, top + crop))


def _model_input(image: Image.Image, rng: np.random.Generator, config: AugmentConfig) -> Image.Image:
    side = image.size[0]
    if side > INPUT_SIZE and rng.random() < config.native_crop_probability:
        left, top = (int(rng.integers(0, side - INPUT_SIZE + 1)) for _ in range(2))
        return image.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE))
    # Never below the input size: framing must not enlarge a face.
    view = max(min(side, INPUT_SIZE), round(side * rng.uniform(*config.framing)))
    left, top = (int(rng.integers(0, side - view + 1)) for _ in range(2))
    return resize_to_input(image, RESAMPLE, box=(left, top, left + view, top + view))


def _colour(image: Image.Image, rng: np.random.Generator, config: AugmentConfig) -> Image.Image:
    if rng.random() < config.greyscale_probability:
        return image.convert("L").convert("RGB")
    if rng.random() < config.colour_probability:
        for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            factor = 1 + rng.uniform(-config.colour_strength, config.colour_strength)
            image = enhancer(image).enhance(factor)
    return image


def _jpeg(image: Image.Image, rng: np.random.Generator, config: AugmentConfig) -> Image.Image:
    quality = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
    buffer = io.BytesIO()
    # Cameras and most software subsample chroma (4:2:0); high-quality exports often keep it (4:4:4).
    subsampling = 0 if quality >= 90 and rng.random() < 0.5 else 2
    image.save(buffer, format="JPEG", quality=quality, subsampling=subsampling)
    return Image.open(buffer).convert("RGB")

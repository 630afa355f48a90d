"""The one definition of how an image file becomes the model's input.

The browser (`web/js/preprocess.js`) implements exactly these steps; tests feed the same files through both
and require the same tensor within 1/255. Every step is chosen so that TensorFlow.js can reproduce it:

1. Decode the first frame, apply the EXIF orientation.
2. Bring any pixel format to 8-bit RGB: greyscale is replicated, CMYK converted, 16-bit scaled down (>> 8),
   and alpha composited over white (how the picture looks on a page).
3. Take the square crop of a face found by `web/js/faces.js` (see training/faces.py), or the centre square of a
   picture judged whole (stretching would distort either).
4. Resize that square to 128x128 with Pillow's BILINEAR filter: a triangle filter whose support widens with
   the reduction factor, so large photos are averaged, not aliased, and small ones are interpolated smoothly.
   Pillow rounds to 8 bits after the horizontal and again after the vertical pass; the browser does the same.
   128 is the size of the smallest training faces: no training face is ever enlarged, so the generators'
   finest pixel traces reach the model as they are.
5. Scale to float32 in [0, 1].
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from unmask.contract import INPUT

INPUT_SIZE = INPUT.size
RESAMPLE = Image.Resampling.BILINEAR
ALPHA_BACKGROUND = (255, 255, 255)

# Describes the steps above for metadata.json, so that anyone running the exported model can reproduce them.
PREPROCESSING_SPEC = {
    "orientation": "EXIF orientation applied",
    "colour": "8-bit RGB; greyscale replicated, 16-bit >> 8, alpha composited over white",
    "crop": "the face's square crop from web/js/faces.js (whole pixels); a picture judged without a face: "
    "centre square, side = min(width, height), box edges at (width - side) / 2 (may be fractional)",
    "resize": "Pillow 13 Image.resize(BILINEAR): separable triangle filter, support = max(1, scale), "
    "horizontal pass then vertical pass, each rounded half-up to uint8; the vertical pass first when the height "
    "shrinks by more than twice as many pixels as the width",
    "size": [INPUT_SIZE, INPUT_SIZE],
    "scale": "divide by 255 to float32 in [0, 1]",
    "layout": "NHWC, RGB",
}


class ImageDecodeError(ValueError):
    """The file is not an image this pipeline can read (corrupt, truncated, empty or another format)."""


def open_rgb(source: str | Path | bytes) -> Image.Image:
    """Decode a file (path or bytes) into an upright 8-bit RGB image, following steps 1-2 above."""
    try:
        # Closed on leaving, also when decoding fails: the pixels are loaded into memory by then.
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            image.seek(0)  # first frame of a GIF or WebP animation
            image.load()
            return _to_rgb(ImageOps.exif_transpose(image))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageDecodeError(f"cannot decode image: {error}") from error


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # Pillow's own I -> L conversion clips instead of scaling; browsers keep the high byte.
        high_byte = (np.asarray(image, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8)
        image = Image.fromarray(high_byte, mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


# A crop box in source pixels, Pillow's (left, top, right, bottom) convention.
Box = tuple[float, float, float, float]


def centre_square_box(width: int, height: int) -> Box:
    """The crop box of step 3, in Pillow's (left, top, right, bottom) convention."""
    side = min(width, height)
    left = (width - side) / 2
    top = (height - side) / 2
    return (left, top, left + side, top + side)


def resize_to_input(image: Image.Image, resample: Image.Resampling = RESAMPLE, box: Box | None = None) -> Image.Image:
    """Steps 3-4: the box (default: the centre square) resized to INPUT_SIZE. `resample` is varied only by
    augmentation."""
    return image.resize((INPUT_SIZE, INPUT_SIZE), resample, box=box or centre_square_box(*image.size))


def to_array(image: Image.Image) -> np.ndarray:
    """Step 5: an RGB image of INPUT_SIZE as float32 HxWx3 in [0, 1]."""
    return np.asarray(image, dtype=np.float32) / 255.0


def preprocess(source: str | Path | bytes | Image.Image, box: Box | None = None) -> np.ndarray:
    """A file, bytes or decoded RGB image to the model's input (128x128x3 float32 in [0, 1]); `box` is a face's
    square crop box in source pixels (None: the centre square)."""
    image = source if isinstance(source, Image.Image) else open_rgb(source)
    return to_array(resize_to_input(image, box=box))

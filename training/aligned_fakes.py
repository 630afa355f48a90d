"""Content-aligned pseudo-fakes: the training split's own real faces, passed through a learned upsampler.

A detector trained on real photos from one place and fakes from another can learn which place a picture came
from (its size, framing, JPEG history, who is in it) instead of how it was made. B-Free (CVPR 2025) and
"Aligned datasets" (ICLR 2025) close that shortcut with fakes made *from* the real photos: each pseudo-fake
shows the same person, in the same framing, with the same history, and differs from its real twin only by
the trace a generator's decoder leaves. Left-out sources tell the shortcut apart from the trace.

Generators' decoders build an image by upsampling (transposed convolutions, or a nearest-neighbour enlargement
followed by convolutions), and those layers leave the periodic pixel correlations that npr's residual reads.
So the pseudo-fakes come from small upsamplers of both kinds, trained here, in a few seconds, on the training
split's real faces only: a real face shrunk to half its side (a 2x2 mean) and enlarged again by the network.
The result keeps the face and its content; its finest pixels are a decoder's.

They are added to the training split as one more generator (`ALIGNED_GROUP`), which the source-balanced draw
weighs like any other; they never enter validation or test.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

from unmask.training.data import DEEPFAKE, REAL, DecodedImages

logger = logging.getLogger(__name__)

ALIGNED_SOURCE = "aligned-upsampler"
ALIGNED_GROUP = f"{ALIGNED_SOURCE}/Deepfake"
# How the decoders enlarge: a transposed convolution, or nearest neighbour then a convolution.
UPSAMPLER_KINDS = ("transposed", "nearest")
UPSAMPLER_FILTERS = 16
PATCH_SIZE = 64  # the side of the training targets; the inputs are half of it
TRAINING_STEPS = 300
BATCH_SIZE = 16
DECODE_BATCH_SIZE = 32  # faces enlarged per call


@dataclass(frozen=True)
class UpsamplerFit:
    kind: str
    l1: float  # mean absolute error on the last training batch, in [0, 1] pixel units


def upsampler(kind: str) -> keras.Model:
    """A fully convolutional 2x upsampler: a bilinear enlargement plus a learned decoder's correction."""
    low = keras.Input((None, None, 3), name="half")
    x = layers.Conv2D(UPSAMPLER_FILTERS, 3, padding="same", activation="relu")(low)
    if kind == "transposed":
        x = layers.Conv2DTranspose(UPSAMPLER_FILTERS, 4, strides=2, padding="same", activation="relu")(x)
    elif kind == "nearest":
        x = layers.UpSampling2D(2, interpolation="nearest")(x)
        x = layers.Conv2D(UPSAMPLER_FILTERS, 3, padding="same", activation="relu")(x)
    else:
        raise ValueError(f"unknown upsampler kind {kind!r}; choose one of {', '.join(UPSAMPLER_KINDS)}")
    correction = layers.Conv2D(3, 3, padding="same")(x)
    enlarged = layers.UpSampling2D(2, interpolation="bilinear")(low)
    return keras.Model(low, layers.Add()([enlarged, correction]), name=f"upsampler_{kind}")


def halve(images: np.ndarray) -> np.ndarray:
    """Shrink a batch of float images (N, 2H, 2W, C) to half their side with a 2x2 mean."""
    n, height, width, channels = images.shape
    return images.reshape(n, height // 2, 2, width // 2, 2, channels).mean(axis=(2, 4))


def train_upsampler(kind: str, faces: list[np.ndarray], rng: np.random.Generator) -> tuple[keras.Model, UpsamplerFit]:
    """Fit one upsampler to enlarge halved patches of `faces` (uint8 squares of at least PATCH_SIZE) back."""
    model = upsampler(kind)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mean_absolute_error")
    loss = float("nan")
    for _ in range(TRAINING_STEPS):
        targets = np.stack([_random_patch(faces[i], rng) for i in rng.integers(len(faces), size=BATCH_SIZE)])
        loss = float(model.train_on_batch(halve(targets), targets))
    return model, UpsamplerFit(kind, round(loss, 4))


def _random_patch(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    top, left = (int(rng.integers(0, side - PATCH_SIZE + 1)) for side in face.shape[:2])
    return face[top : top + PATCH_SIZE, left : left + PATCH_SIZE].astype(np.float32) / 255


def decode_through(model: keras.Model, faces: list[np.ndarray]) -> list[np.ndarray]:
    """Each uint8 face halved and enlarged again by `model`: same size (an odd side loses its last pixel)."""
    by_side: dict[int, list[int]] = defaultdict(list)
    for index, face in enumerate(faces):
        by_side[face.shape[0] // 2 * 2].append(index)
    out: list[np.ndarray] = [np.empty(0)] * len(faces)
    for side, indices in by_side.items():
        for start in range(0, len(indices), DECODE_BATCH_SIZE):  # eager calls: no retracing per size
            chunk = indices[start : start + DECODE_BATCH_SIZE]
            batch = np.stack([faces[i][:side, :side] for i in chunk]).astype(np.float32) / 255
            decoded = np.asarray(model(halve(batch), training=False))
            for i, image in zip(chunk, decoded, strict=True):
                out[i] = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    return out


def with_aligned_fakes(images: DecodedImages, seed: int) -> tuple[DecodedImages, dict]:
    """The training images plus one pseudo-fake per real face (each through an upsampler chosen at random),
    and a record of how they were made for run.json."""
    rng = np.random.default_rng([seed, 7])
    real = [i for i, label in enumerate(images.labels) if label == REAL and images.images[i].shape[0] >= PATCH_SIZE]
    faces = [images.images[i] for i in real]
    choice = rng.integers(len(UPSAMPLER_KINDS), size=len(faces))
    made: list[np.ndarray] = [np.empty(0)] * len(faces)
    fits = []
    for k, kind in enumerate(UPSAMPLER_KINDS):
        keras.utils.set_random_seed(seed + k)  # each upsampler's initial weights follow the run's seed
        model, fit = train_upsampler(kind, faces, rng)
        fits.append(fit)
        members = np.flatnonzero(choice == k)
        for i, image in zip(members, decode_through(model, [faces[i] for i in members]), strict=True):
            made[i] = image
    logger.info("made %d content-aligned pseudo-fakes (%s)", len(made), fits)
    combined = DecodedImages(
        images=[*images.images, *made],
        labels=np.concatenate([images.labels, np.full(len(made), DEEPFAKE)]),
        paths=[*images.paths, *(f"{images.paths[i]} (aligned)" for i in real)],
        skipped=images.skipped,
        groups=[*images.groups, *[ALIGNED_GROUP] * len(made)],
    )
    record = {"count": len(made), "upsamplers": [{"kind": f.kind, "l1": f.l1} for f in fits]}
    return combined, record

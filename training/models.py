"""Model architectures.

Every architecture maps a 128x128x3 image in [0, 1] to one probability of "deepfake" (sigmoid), and names the
tensor before the sigmoid `logit` so that calibration can rescale it. Architectures that end in a
per-region score map also name that map `evidence`: the browser shows it as the class activation map.

- `npr` (default): artifact first. Generators leave their traces in the finest pixel relationships
  (upsampling and decoder artefacts), which faces' content hides. The model looks only at the neighbouring
  pixel relationships residual of NPR (Tan et al., CVPR 2024), `x - up(down(x))` with a 2x2 mean and a
  nearest-neighbour enlargement: a fixed high-pass that removes the face and keeps how each pixel differs
  from its 2x2 cell. A small depthwise-separable CNN with a receptive field of about 40 px then scores each
  8x8-pixel patch (LaDeDa, 2024: patch scores generalise better than a whole-image view), and the image
  logit is the mean of the 16x16 patch map. No pooling or resizing comes before the residual: the input's
  native pixels are what it reads.
- `paper`: the seed paper's CNN, kept unchanged as the baseline.
- `unmasknet`: the previous default, a small depthwise-separable CNN built for robustness and the browser:
  * it first averages 2x2 pixels down to 112x112, so that it sees no finer detail than the training images
    (128 px) really hold; a sharp 12-megapixel photo and an upscaled thumbnail then look alike to it;
  * it ends in a 1x1 convolution giving one logit per 16x16-pixel region (14x14 map), averaged into the
    image logit. That map *is* the class activation map, computed by the model itself, at no extra cost.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from unmask.training.architectures import ARCHITECTURES
from unmask.training.calibration import Calibration
from unmask.training.preprocessing import INPUT_SIZE

INPUT_SHAPE = (INPUT_SIZE, INPUT_SIZE, 3)

# (output channels, stride) of npr's depthwise-separable blocks, after its 64x64 stem on the residual.
NPR_STEM_FILTERS = 32
NPR_BLOCKS = ((48, 1), (64, 2), (96, 1), (128, 2), (128, 1))
# The residual is a few grey levels: scaled up so that the first convolution starts in a useful range.
NPR_RESIDUAL_GAIN = 8.0
# The residual's features have a variance far below BatchNorm's initial estimate of 1; Keras' default momentum
# (0.99) takes over a thousand steps to forget it, longer than a short CPU recipe: the network then judged
# validation images on stale statistics (measured: logits spread 0.002 in inference against 1.4 in training).
NPR_BN_MOMENTUM = 0.9

# (output channels, stride) of each depthwise-separable block of unmasknet, after the 56x56 stem.
UNMASKNET_BLOCKS = ((48, 1), (64, 2), (96, 1), (128, 2), (160, 1), (192, 1))
STEM_STRIDE = 2


def build(architecture: str) -> keras.Model:
    """A fresh, uncompiled model of the named architecture."""
    if architecture == "npr":
        return npr()
    if architecture == "paper":
        return paper_cnn()
    if architecture == "unmasknet":
        return unmasknet()
    raise ValueError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")


def paper_cnn() -> keras.Model:
    """Conv 32/64/128 (3x3, ReLU, 2x2 max-pool), Flatten, Dense 512, sigmoid: exactly as published."""
    image = keras.Input(INPUT_SHAPE, name="image")
    x = image
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(512, activation="relu")(x)
    logit = layers.Dense(1, name="logit")(x)
    probability = layers.Activation("sigmoid", name="probability")(logit)
    return keras.Model(image, probability, name="paper")


def npr() -> keras.Model:
    image = keras.Input(INPUT_SHAPE, name="image")
    cell_mean = layers.UpSampling2D(2, interpolation="nearest", name="npr_up")(
        layers.AveragePooling2D(2, name="npr_down")(image)
    )
    residual = layers.Subtract(name="npr_residual")([image, cell_mean])
    x = layers.Rescaling(NPR_RESIDUAL_GAIN, name="npr_gain")(residual)
    x = layers.Conv2D(NPR_STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(momentum=NPR_BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for index, (filters, stride) in enumerate(NPR_BLOCKS):
        x = _separable_block(x, filters, stride, name=f"block{index}", momentum=NPR_BN_MOMENTUM)
    x = layers.SpatialDropout2D(0.1, name="dropout")(x)
    evidence = layers.Conv2D(1, 1, name="evidence")(x)
    logit = layers.GlobalAveragePooling2D(name="logit")(evidence)
    probability = layers.Activation("sigmoid", name="probability")(logit)
    return keras.Model(image, probability, name="npr")


def unmasknet() -> keras.Model:
    image = keras.Input(INPUT_SHAPE, name="image")
    x = layers.AveragePooling2D(2, name="detail_limit")(image)
    x = layers.Conv2D(32, 3, strides=STEM_STRIDE, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for index, (filters, stride) in enumerate(UNMASKNET_BLOCKS):
        x = _separable_block(x, filters, stride, name=f"block{index}")
    x = layers.SpatialDropout2D(0.1, name="dropout")(x)
    evidence = layers.Conv2D(1, 1, name="evidence")(x)
    logit = layers.GlobalAveragePooling2D(name="logit")(evidence)
    probability = layers.Activation("sigmoid", name="probability")(logit)
    return keras.Model(image, probability, name="unmasknet")


def _separable_block(
    x: keras.KerasTensor, filters: int, stride: int, name: str, momentum: float = 0.99
) -> keras.KerasTensor:
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"{name}_dw_bn")(x)
    x = layers.ReLU(name=f"{name}_dw_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"{name}_pw_bn")(x)
    return layers.ReLU(name=f"{name}_pw_relu")(x)


# ---------------------------------------------------------------------------------------------------------
# Judging an input: every pixel phase, then calibration
#
# npr's residual is taken on a fixed 2x2 grid, so the same face framed one pixel off is a different signal:
# judged once, a face's crop one pixel off moved the probability by up to 0.075 (bench/framing_stability.py).
# A face is therefore judged in all four phases of that grid, as it is and moved one pixel right, down, and
# both, and the logits and evidence maps are averaged: for the shipped model, 70% of the bench's faces keep
# their probability within 0.05 between pictures (63% with two phases, the diagonal pair). Training sees
# single views; calibration, evaluation and the browser all judge through `phase_averaged`.

# (right, down) offsets in pixels of each view.
PHASES = ((0, 0), (1, 0), (0, 1), (1, 1))


@keras.saving.register_keras_serializable(package="unmask")
class PhaseViews(layers.Layer):
    """A batch of images in each of PHASES in turn: moved right and down, the edge pixels repeated."""

    def call(self, images: keras.KerasTensor) -> keras.KerasTensor:
        return ops.concatenate([_moved(images, right, down) for right, down in PHASES], axis=0)


def _moved(images: keras.KerasTensor, right: int, down: int) -> keras.KerasTensor:
    """`images` moved by 0 or 1 pixel right and down, the top row and left column repeated."""
    if down:
        images = ops.concatenate([images[:, :1], images[:, :-1]], axis=1)
    if right:
        images = ops.concatenate([images[:, :, :1], images[:, :, :-1]], axis=2)
    return images


@keras.saving.register_keras_serializable(package="unmask")
class PhaseMean(layers.Layer):
    """The mean over PhaseViews' views: one output per original image."""

    def call(self, stacked: keras.KerasTensor) -> keras.KerasTensor:
        return ops.mean(ops.reshape(stacked, (len(PHASES), -1, *stacked.shape[1:])), axis=0)


def phase_averaged(model: keras.Model) -> keras.Model:
    """image -> {"logit"} (and "evidence" where the architecture has it), each the mean over PHASES."""
    names = ["logit"] + (["evidence"] if any(layer.name == "evidence" for layer in model.layers) else [])
    raw = keras.Model(model.input, {name: model.get_layer(name).output for name in names}, name=f"{model.name}_raw")
    image = keras.Input(model.input.shape[1:], name="image")
    judged = raw(PhaseViews(name="phase_views")(image))
    outputs = {name: PhaseMean(name=f"phase_mean_{name}")(judged[name]) for name in names}
    return keras.Model(image, outputs, name=f"{model.name}_phase_averaged")


def calibrated(model: keras.Model, calibration: Calibration) -> keras.Model:
    """The model that browsers run: probability = sigmoid(scale * logit + offset) (see calibration.py) of the
    phase-averaged logit, plus the phase-averaged evidence map in the same calibrated units when the
    architecture has one. Because the logit is the mean of the evidence map, the calibrated probability is
    also sigmoid(mean of the calibrated map)."""
    image = keras.Input(model.input.shape[1:], name="image")
    judged = phase_averaged(model)(image)

    def calibrate(tensor: keras.KerasTensor, name: str) -> keras.KerasTensor:
        return layers.Rescaling(calibration.scale, offset=calibration.offset, name=name)(tensor)

    outputs = {
        "probability": layers.Activation("sigmoid", name="calibrated_probability")(
            calibrate(judged["logit"], "calibration")
        )
    }
    if "evidence" in judged:
        outputs["evidence"] = calibrate(judged["evidence"], "evidence_calibration")
    return keras.Model(image, outputs, name=f"{model.name}_calibrated")

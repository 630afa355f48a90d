"""The browser's resampling (web/js/preprocess.js) is Pillow's, run under Node on the same pixels: the box
reduction that shrinks huge pictures for the face detector, and the bilinear resize of any region."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PREPROCESS_JS = Path(__file__).resolve().parents[2] / "web" / "js" / "preprocess.js"
# Reads a raw RGB picture, answers the JS result as raw RGB on stdout.
SCRIPT = """
const { reduceByFactor, resizeRegion, rgbSource } = await import(process.argv[1]);
const [width, height, operation] = JSON.parse(process.argv[2]);
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const rgb = new Uint8Array(Buffer.concat(chunks));
// operation.rgba: the pixels as the browser's canvas gives them (RGBA, a whole-width strip at a time).
const rgba = Uint8ClampedArray.from({ length: width * height * 4 }, (_, i) => (i % 4 === 3 ? 255 : rgb[(i >> 2) * 3 + (i % 4)]));
const canvasSource = { width, height,
  readStrip: (x, y, stripWidth, rows) => ({ data: rgba.subarray(y * width * 4, (y + rows) * width * 4), stride: 4 }) };
const source = operation.rgba ? canvasSource : rgbSource(rgb, width, height);
const out = operation.factor ? reduceByFactor(source, operation.factor).rgb
  : resizeRegion(source, operation.box, operation.width, operation.height);
process.stdout.write(Buffer.from(out));
"""


def run_js(pixels: np.ndarray, operation: dict) -> np.ndarray:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is needed (the browser code runs in it)")
    height, width = pixels.shape[:2]
    completed = subprocess.run(
        [node, "--input-type=module", "-e", SCRIPT, str(PREPROCESS_JS), json.dumps([width, height, operation])],
        input=pixels.tobytes(),
        capture_output=True,
        check=True,
    )
    return np.frombuffer(completed.stdout, dtype=np.uint8)


@pytest.fixture
def picture() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (701, 1003, 3), dtype=np.uint8)


@pytest.mark.parametrize("factor", [2, 3, 4, 7])
def test_box_reduction_is_pillows_reduce(picture: np.ndarray, factor: int) -> None:
    expected = np.asarray(Image.fromarray(picture).reduce(factor))
    assert np.array_equal(run_js(picture, {"factor": factor}).reshape(expected.shape), expected)


@pytest.mark.parametrize("factor", [2, 3, 16])
def test_box_reduction_of_canvas_pixels_is_pillows_reduce(picture: np.ndarray, factor: int) -> None:
    """The browser's RGBA pixels take another path (four bytes read as one word)."""
    expected = np.asarray(Image.fromarray(picture).reduce(factor))
    assert np.array_equal(run_js(picture, {"factor": factor, "rgba": True}).reshape(expected.shape), expected)


@pytest.mark.parametrize(
    ("box", "size"),
    [((0, 0, 1003, 701), (256, 179)), ((120, 40, 520, 440), (224, 224)), ((900, 600, 1003, 701), (224, 224))],
)
def test_region_resize_is_pillows_bilinear(picture: np.ndarray, box: tuple, size: tuple) -> None:
    expected = np.asarray(Image.fromarray(picture).resize(size, Image.Resampling.BILINEAR, box=box)).astype(int)
    operation = {
        "box": dict(zip(("left", "top", "right", "bottom"), box, strict=True)),
        "width": size[0],
        "height": size[1],
    }
    actual = run_js(picture, operation).reshape(expected.shape).astype(int)
    assert np.abs(actual - expected).max() <= 1  # each pass rounds to 8 bits; the pass order may differ

"""The page computes the same model input as `training.preprocessing.preprocess` (within 1/255) and the same
probability as the served model run by TensorFlow in Python (within 0.01), for the same files: for the picture
judged whole, and for each face on the crop the page chose (tests/e2e/test_faces.py checks that Python chooses
the same crops)."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from e2e_support import log_in
from reference_model import ReferenceModel

from unmask.training.preprocessing import INPUT_SIZE, preprocess

pytestmark = pytest.mark.slow

# Every picture the page judges, whole and by its faces. ("small", 160x120, is under the card's
# min_picture_side_px and its face under min_face_crop_px: the page judges neither, see test_analysis; its
# enlarging crop is compared below.)
CASES = ["photo", "large", "tall", "wide", "alpha", "grey", "odd"]
TENSOR_TOLERANCE = 1 / 255 + 1e-6
PROBABILITY_TOLERANCE = 0.01

SETUP = """async () => {
  const { Classifier } = await import('/js/classifier.js');
  window.parityClassifier = new Classifier();
  await window.parityClassifier.load({ backend: 'wasm' });
}"""

RUN = """async ({ data, type }) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const blob = new Blob([bytes], { type });
  const input = await window.parityClassifier.preprocess(blob);
  const whole = await window.parityClassifier.classify(blob, { whole: true });
  const { faces } = await window.parityClassifier.classify(blob);
  return {
    input: Array.from(input),
    probability: whole.probability,
    faces: faces.filter((face) => !face.tooSmall).map(({ crop, probability }) => ({ crop, probability })),
  };
}"""

MIME = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}


@pytest.fixture(scope="module")
def parity_page(browser, spread_server):
    context = browser.new_context()
    page = context.new_page()
    log_in(page, spread_server.url)
    page.evaluate(SETUP)
    yield page
    context.close()


@pytest.fixture(scope="module")
def reference(spread_server) -> ReferenceModel:
    return ReferenceModel(spread_server.model_dir)


def browser_pipeline(page, path):
    data = base64.b64encode(path.read_bytes()).decode()
    answer = page.evaluate(RUN, {"data": data, "type": MIME[path.suffix]})
    return (
        np.asarray(answer["input"], np.float32).reshape(INPUT_SIZE, INPUT_SIZE, 3),
        answer["probability"],
        answer["faces"],
    )


@pytest.mark.parametrize("case", CASES)
def test_same_input_and_probability_as_python(case, images, parity_page, reference):
    expected_input = preprocess(images[case])
    browser_input, browser_probability, faces = browser_pipeline(parity_page, images[case])

    assert browser_input.shape == expected_input.shape
    assert np.abs(browser_input - expected_input).max() <= TENSOR_TOLERANCE
    expected_probability = reference.predict(expected_input[None])[0][0]
    assert abs(browser_probability - expected_probability) <= PROBABILITY_TOLERANCE
    assert faces, "every test picture has a face"
    for face in faces:
        crop = face["crop"]
        box = (crop["left"], crop["top"], crop["left"] + crop["side"], crop["top"] + crop["side"])
        expected = reference.predict(preprocess(images[case], box)[None])[0][0]
        assert abs(face["probability"] - expected) <= PROBABILITY_TOLERANCE


def test_the_probabilities_compared_spread_away_from_one_half(images, reference):
    """Guards the test above: with every probability at 0.5 the comparison would prove little."""
    probabilities = reference.predict(np.stack([preprocess(images[case]) for case in CASES]))[0]
    assert np.abs(probabilities - 0.5).max() > 0.2
    assert probabilities.max() - probabilities.min() > 0.05
    assert np.abs(probabilities - 0.5).max() < 0.499  # not saturated either


BOX_RUN = """async ({ data, type, box }) => {
  const { decodeImage, resizeToInput } = await import('/js/preprocess.js');
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const bitmap = await decodeImage(new Blob([bytes], { type }));
  return Array.from(resizeToInput(bitmap, box));
}"""


@pytest.mark.parametrize(
    "case, fractions",
    [
        ("photo", (0.31, 0.12, 0.5)),  # a face inside a photo: reduced
        ("large", (0.6, 0.25, 0.3)),  # a face in a large picture: reduced a lot
        ("tall", (0.0, 0.55, 1.0)),  # a full-width face low in a tall picture
        ("small", (0.2, 0.1, 0.6)),  # a face smaller than the input: enlarged
    ],
    ids=["photo", "large", "tall", "small"],
)
def test_a_face_box_gives_the_same_input_as_python(case, fractions, images, parity_page) -> None:
    """The face detector's square box, in source pixels with fractional edges, crops alike."""
    from unmask.training.preprocessing import open_rgb, resize_to_input

    image = open_rgb(images[case])
    left_share, top_share, side_share = fractions
    side = side_share * min(image.size) - 0.5
    left, top = left_share * (image.width - side) + 0.25, top_share * (image.height - side) + 0.75
    box = (left, top, left + side, top + side)
    expected = np.asarray(resize_to_input(image, box=box), dtype=np.int16)
    data = base64.b64encode(images[case].read_bytes()).decode()
    answer = parity_page.evaluate(
        BOX_RUN,
        {
            "data": data,
            "type": MIME[images[case].suffix],
            "box": dict(zip(("left", "top", "right", "bottom"), box, strict=True)),
        },
    )
    browser = np.asarray(answer, dtype=np.int16).reshape(INPUT_SIZE, INPUT_SIZE, 3)
    assert np.abs(browser - expected).max() <= 1

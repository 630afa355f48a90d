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
from training.preprocessing import preprocess

pytestmark = pytest.mark.slow

CASES = ["small", "photo", "large", "tall", "wide", "alpha", "grey", "odd"]
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
    return np.asarray(answer["input"], np.float32).reshape(224, 224, 3), answer["probability"], answer["faces"]


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

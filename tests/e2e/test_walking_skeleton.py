"""Issue 2's thinnest path: log in, classify a picture, see the Python model's probability, find the verdict
row in the database, and no request carries the picture."""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3

import pytest
from e2e_support import SHIPPED_MODEL, RequestRecorder, wait_for_results
from reference_model import ReferenceModel

from unmask.training.preprocessing import preprocess

pytestmark = pytest.mark.slow


HEADLINES = {
    "Likely deepfake",
    "Not detected by this model",
    "Uncertain (leaning deepfake)",
    "Uncertain (leaning not detected)",
}


def as_percent(probability: float) -> str:
    """The page's rounding (web/js/verdict.js formatPercent): truncated to a whole percent."""
    percent = probability * 100
    if 0 < percent < 1:
        return "<1%"
    if 99 < percent < 100:
        return ">99%"
    return f"{math.floor(percent + 1e-9)}%"


def stored_verdicts(database_file, digest: str) -> list[tuple]:
    with sqlite3.connect(database_file) as database:
        return database.execute(
            "SELECT probability, verdict, file_name FROM verdicts WHERE image_sha256 = ? ORDER BY rowid", (digest,)
        ).fetchall()


def test_log_in_classify_and_store_the_verdict_only(context, page, server, images):
    recorder = RequestRecorder(context)
    picture = images["photo"]
    digest = hashlib.sha256(picture.read_bytes()).hexdigest()
    stored_before = stored_verdicts(server.database, digest)  # other tests share the server and picture

    page.set_input_files("#files", str(picture))
    wait_for_results(page, 1)

    card = page.locator(".result-card").first
    assert card.get_attribute("data-state") == "saved"
    shown = float(card.locator(".probability").get_attribute("data-probability"))
    # The picture's one face, judged on the crop the page chose (tests/e2e/test_face_verdicts.py checks that
    # Python chooses the same crop).
    left, top, side = (int(v) for v in card.locator(".face-row").first.get_attribute("data-crop").split(","))
    face_input = preprocess(picture, (left, top, left + side, top + side))
    expected = float(ReferenceModel(SHIPPED_MODEL).predict(face_input[None])[0][0])
    assert abs(shown - expected) <= 0.01
    assert card.locator(".probability").inner_text() == f"Fake probability: {as_percent(shown)}"
    assert card.locator(".verdict").inner_text() in HEADLINES
    # What the verdict means for this model, counted from its card's measured rates, on the result itself.
    metadata = json.loads((SHIPPED_MODEL / "metadata.json").read_text())
    low, high = metadata["uncertain_band"]
    point = metadata["operating_point"]
    flagged = shown >= metadata["threshold"]
    sources, rate = (
        (point["real_sources"], "false_positive_rate") if flagged else (point["generators"], "detection_rate")
    )
    counted = f"{sum(round(s[rate] * s['images']) for s in sources)} of {sum(s['images'] for s in sources)}"
    meaning = card.locator(".reliability").inner_text()
    assert ("cannot tell" in meaning) if low <= shown < high else (counted in meaning)

    assert card.locator(".sha256").text_content() == digest
    rows = stored_verdicts(server.database, digest)
    assert len(rows) == len(stored_before) + 1
    probability, verdict, file_name = rows[-1]
    assert abs(probability - shown) < 1e-6
    assert verdict == ("deepfake" if shown >= 0.5 else "real")
    assert file_name is None

    recorder.assert_nothing_carries([picture])

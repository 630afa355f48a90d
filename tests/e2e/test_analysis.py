"""The analyser: batches with progress, every kind of bad file, the heatmap toggle, drop and paste, and a huge
picture that neither freezes the page nor runs out of memory."""

from __future__ import annotations

import base64
import time

import pytest
from e2e_support import RequestRecorder, smooth_image, wait_for_results
from PIL import Image

from tests.faces_support import with_face
from unmask.contract import POLICY

pytestmark = pytest.mark.slow

# Creates File objects in the page from base64 and hands them over as a drop or a paste.
DISPATCH = """({ kind, files }) => {
  const transfer = new DataTransfer();
  for (const { name, type, data } of files) {
    transfer.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name, { type }));
  }
  if (kind === 'drop') {
    document.getElementById('drop-zone').dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  } else {
    document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }));
  }
}"""


@pytest.fixture
def bad_files(tmp_path):
    files = {
        "empty.jpg": b"",
        "broken.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "report.jpg": b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
        "notes.png": b"these are not pixels\n" * 20,
        "phone.jpg": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in files}


def test_a_batch_with_bad_files_reports_each_and_goes_on(page, images, bad_files):
    chosen = [
        images["photo"],
        bad_files["empty.jpg"],
        bad_files["broken.png"],
        bad_files["report.jpg"],
        bad_files["notes.png"],
        bad_files["phone.jpg"],
        images["alpha"],
    ]
    page.set_input_files("#files", [str(path) for path in chosen])
    wait_for_results(page, len(chosen))

    cards = page.locator(".result-card")
    states = [cards.nth(i).get_attribute("data-state") for i in range(len(chosen))]
    assert states == ["saved", "failed", "failed", "failed", "failed", "failed", "saved"]
    messages = [cards.nth(i).locator(".result-state").inner_text() for i in range(1, 6)]
    assert messages[0] == "The file is empty."
    assert "could not be read as an image" in messages[1]
    assert messages[2] == "This file is a PDF document, not an image."
    assert messages[3] == "This file is text, not an image."
    assert messages[4].startswith("This is a HEIC/HEIF photo")
    assert page.locator("#batch-status").inner_text() == "Analysed 7 of 7."
    assert "Finished: 7 analysed." in page.locator("#announcer").inner_text()


def test_a_picture_with_nothing_to_judge_gets_no_verdict_and_no_log(context, page, tmp_path):
    recorder = RequestRecorder(context)
    Image.new("RGB", (1, 1), (200, 150, 120)).save(tmp_path / "pixel.png")
    Image.new("RGB", (800, 800), (120, 90, 60)).save(tmp_path / "flat.jpg", quality=90)
    page.set_input_files("#files", [str(tmp_path / "pixel.png"), str(tmp_path / "flat.jpg")])
    wait_for_results(page, 2)
    cards = page.locator(".result-card")
    assert [cards.nth(i).get_attribute("data-state") for i in range(2)] == ["no-face", "no-face"]

    # Even judged whole, as the user may ask, there is nothing a verdict could be about.
    for i in range(2):
        cards.nth(i).locator(".judge-whole").click()
        cards.nth(i).and_(page.locator("[data-state=failed]")).wait_for()
    messages = page.locator(".result-card .result-state").all_inner_texts()
    assert messages[0] == (
        f"No verdict: this picture is 1×1 px; the model needs at least {POLICY.min_picture_side_px} px on the shorter side."
    )
    assert messages[1] == "No verdict: the centre of this picture is one flat colour, with no face to judge."
    assert recorder.posts_to("/api/verdicts") == []


def test_the_heatmap_toggle_shows_and_hides_the_evidence(page, images):
    page.set_input_files("#files", str(images["photo"]))
    wait_for_results(page, 1)
    toggle = page.locator(".heatmap-toggle")
    overlay = page.locator(".face-heatmap")  # the face's own

    assert toggle.get_attribute("aria-pressed") == "false" and overlay.is_hidden()
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true" and overlay.is_visible()
    assert toggle.inner_text() == "Hide heatmap"
    painted = page.evaluate(
        "() => document.querySelector('.face-heatmap').getContext('2d').getImageData(0, 0, 224, 224).data.some((v, i) => i % 4 === 3 && v > 0)"
    )
    assert painted
    toggle.press("Enter")
    assert toggle.get_attribute("aria-pressed") == "false" and overlay.is_hidden()


@pytest.mark.parametrize("kind", ["drop", "paste"])
def test_drop_and_paste_add_pictures(page, images, kind):
    data = base64.b64encode(images["photo"].read_bytes()).decode()
    page.evaluate(DISPATCH, {"kind": kind, "files": [{"name": "dropped.jpg", "type": "image/jpeg", "data": data}]})
    wait_for_results(page, 1)
    assert page.locator(".result-card").first.get_attribute("data-state") == "saved"
    assert page.locator(".result-name").first.inner_text() == "dropped.jpg"


def test_a_huge_picture_keeps_the_page_responsive(page, tmp_path):
    huge = tmp_path / "huge.jpg"
    tile = Image.fromarray(with_face(smooth_image(1000, 1000, 9)))
    canvas = Image.new("RGB", (8000, 8000))
    for x in range(0, 8000, 1000):
        for y in range(0, 8000, 1000):
            canvas.paste(tile, (x, y))
    canvas.save(huge, quality=85)

    page.set_input_files("#files", str(huge))
    slowest_ms = 0.0
    while page.locator(".result-card[data-state]").count() == 0:
        start = time.perf_counter()
        page.evaluate("() => new Promise((resolve) => requestAnimationFrame(() => resolve()))")
        slowest_ms = max(slowest_ms, (time.perf_counter() - start) * 1000)
        time.sleep(0.05)
    assert page.locator(".result-card").first.get_attribute("data-state") == "saved"
    assert "8000×8000 px" in page.locator(".engine").text_content()
    assert slowest_ms < 500, f"the page froze for {slowest_ms:.0f} ms"

"""Results a person can act on (issue 12), in the real page at phone and desktop sizes: the newest result in
view, honest wording in neutral colours with the technical details folded away, the wrong kind of file sent to
the page that checks it, a first visit that explains, the heatmap on one scale, no sideways scrolling at 320 px,
batches (summary, compact view, clear), a history you can use (undo, filtered export, earlier checks of a file)
and a report per result made on the device."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from e2e_support import (
    SHIPPED_MODEL,
    RequestRecorder,
    log_in,
    pattern_clip,
    running_server,
    smooth_image,
    wait_for_results,
    wait_until_ready,
)
from PIL import Image
from playwright.sync_api import expect

from tests.faces_support import drawn_face, with_face

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
NOT_DETECTED_INK = "rgb(74, 82, 96)"  # --not-detected in app.css: neutral, not the reassuring green


@pytest.fixture(params=[PHONE, DESKTOP], ids=["phone", "desktop"])
def sized_page(request, browser, server):
    """A logged-in analyser page at a phone's and at a desktop's size."""
    context = browser.new_context(viewport=request.param)
    opened = context.new_page()
    log_in(opened, server.url)
    yield opened
    context.close()


def analyse(page, paths) -> None:
    before = page.locator(".result-card").count()
    page.set_input_files("#files", [str(path) for path in paths])
    wait_for_results(page, before + len(paths))


def test_the_picker_is_on_the_first_screen_of_a_phone(sized_page):
    box = sized_page.get_by_text("Choose files").bounding_box()
    assert box["y"] + box["height"] <= sized_page.viewport_size["height"]


def test_a_new_batch_is_brought_into_view_and_focused(sized_page, images):
    analyse(sized_page, [images["photo"], images["small"], images["grey"]])
    analyse(sized_page, [images["alpha"]])
    newest = sized_page.locator(".result-card").last
    assert newest.evaluate("(card) => document.activeElement === card")
    # Its top in the upper half of the screen once its result is drawn.
    sized_page.wait_for_function(
        """() => {
          const card = [...document.querySelectorAll('.result-card')].at(-1);
          const top = card.getBoundingClientRect().top;
          return top > -1 && top < innerHeight / 2;  // -1: scrolled to a fraction of a pixel
        }""",
        timeout=5_000,
    )


def test_a_low_score_reads_not_detected_in_a_neutral_colour_with_what_it_means(sized_page, images):
    analyse(sized_page, [images["photo"]])
    card = sized_page.locator(".result-card").last
    assert "verdict-real" in card.get_attribute("class") and "is-uncertain" not in card.get_attribute("class")
    verdict = card.locator(".verdict")
    assert verdict.inner_text() == "Not detected by this model"
    assert verdict.evaluate("(element) => getComputedStyle(element).color") == NOT_DETECTED_INK
    meaning = card.locator(".reliability").inner_text()
    assert re.fullmatch(
        r"In its tests this model caught \d+ of \d+ generated or swapped faces it had never seen; "
        r"the others also read \"not detected\", so this does not show that the picture is authentic\.",
        meaning,
    )


def test_a_card_shows_no_model_card_field_names_and_no_verdict_word_real(sized_page, images):
    analyse(sized_page, [images["photo"]])
    card = sized_page.locator(".result-card").last
    card.locator(".meaning summary").click()
    text = card.inner_text()
    assert not re.search(r"\b[a-z]+_[a-z_.]+\b|`", text), text
    assert not re.search(r"\bReal\b|leaning real", text)
    assert "How often this model is right" not in text


def test_technical_details_fold_into_a_details_section(sized_page, images):
    analyse(sized_page, [images["photo"]])
    card = sized_page.locator(".result-card").last
    details = card.locator("details.tech-details")
    assert not card.locator(".sha256").is_visible() and not card.locator(".engine").is_visible()
    details.locator("summary").click()
    assert re.fullmatch(r"[0-9a-f]{64}", card.locator(".sha256").inner_text())
    assert "model npr-" in card.locator(".engine").inner_text()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A one-second WebM clip (ffmpeg's test pattern)."""
    target = tmp_path_factory.mktemp("clip") / "clip.webm"
    return pattern_clip(target, size="160x120", rate=5, seconds=1, encoder=["-c:v", "libvpx"])


def video_page_failing_on(page, server, path: Path) -> None:
    page.goto(f"{server.url}/video?backend=wasm")
    wait_until_ready(page)
    page.set_input_files("#file", str(path))
    page.locator('#analysis[data-state="failed"]').wait_for(state="attached")


def test_a_video_on_the_image_page_points_to_the_video_page(page, clip):
    analyse(page, [clip])
    state = page.locator(".result-card").last.locator(".result-state")
    assert state.inner_text() == "This is a video, not a still image. Check it on the Video page."
    assert state.get_by_role("link").get_attribute("href") == "/video"


def test_a_picture_on_the_video_page_points_to_the_image_page_and_leaves_no_player(page, server, images):
    video_page_failing_on(page, server, images["photo"])
    status = page.locator("#status")
    assert status.inner_text() == "This is a still image, not a video. Check it on the Analyse page."
    assert status.get_by_role("link").get_attribute("href") == "/"
    assert page.locator("#player").is_hidden() and page.locator("#timeline").is_hidden()


def test_a_text_file_on_the_video_page_leaves_no_player(page, server, tmp_path):
    (tmp_path / "notes.mp4").write_text("these are not frames\n" * 20)
    video_page_failing_on(page, server, tmp_path / "notes.mp4")
    assert page.locator("#status").inner_text().startswith("This file could not be opened as a video")
    assert page.locator("#player").is_hidden() and page.locator("#timeline").is_hidden()


@pytest.fixture(params=[PHONE, DESKTOP], ids=["phone", "desktop"])
def first_visit(request, browser):
    """A new visitor's browser (nothing remembered) at a phone's and at a desktop's size."""
    context = browser.new_context(viewport=request.param)
    yield context.new_page()
    context.close()


def test_a_first_visit_says_what_unmask_does_and_how_to_get_an_account(first_visit, server):
    first_visit.goto(f"{server.url}/")
    first_visit.wait_for_url(re.compile(r"/login"))
    intro = first_visit.locator(".intro")
    assert "deepfake" in intro.inner_text() and "never leave this device" in intro.inner_text()
    asking = first_visit.get_by_text("ask the person who runs this server")
    asking.wait_for()
    assert first_visit.locator("#register-link").is_hidden()


def test_a_first_visit_links_to_registration_when_it_is_open(first_visit, tmp_path, monkeypatch):
    monkeypatch.setenv("UNMASK_REGISTRATION_OPEN", "true")
    with running_server(tmp_path / "open", SHIPPED_MODEL) as open_server:
        first_visit.goto(f"{open_server.url}/login")
        first_visit.get_by_role("link", name="Create one").wait_for()
        assert first_visit.locator("#ask-for-account").is_hidden()


HEATMAP_ALPHAS = """async (logits) => {
  const { heatmapPixels } = await import('/js/result-card.js');
  const pixels = heatmapPixels(new Float32Array(16 * 16).fill(logits));
  return pixels.data[3];
}"""


def test_the_heatmap_is_on_one_absolute_scale(page):
    faint, strong, beyond = (page.evaluate(HEATMAP_ALPHAS, logits) for logits in (0.2, 4.0, 9.0))
    assert faint < strong / 10  # a map the model barely believes stays faint, not scaled up to its own peak
    assert strong == beyond  # full colour from the scale's end on


def test_the_heatmap_has_a_legend(page, images):
    analyse(page, [images["photo"]])
    card = page.locator(".result-card").last
    card.get_by_role("button", name="Show heatmap").click()
    legend = card.locator(".heatmap-legend")
    assert legend.is_visible() and legend.locator(".legend-scale").is_visible()
    assert "one scale for every picture" in legend.inner_text()


NARROWEST = {"width": 320, "height": 640}
SIGNED_IN_PAGES = ["/", "/video", "/history", "/account"]


@pytest.fixture
def narrow_page(browser, server, images):
    """A logged-in page 320 px wide, with one picture analysed (so the history has a row)."""
    context = browser.new_context(viewport=NARROWEST)
    opened = context.new_page()
    log_in(opened, server.url)
    analyse(opened, [images["photo"]])
    yield opened
    context.close()


def scrolls_sideways(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth > document.documentElement.clientWidth")


def test_no_page_scrolls_sideways_at_320_px(narrow_page, server):
    assert not scrolls_sideways(narrow_page), "/ with a result"
    for path in SIGNED_IN_PAGES[1:]:
        narrow_page.goto(f"{server.url}{path}")
        narrow_page.wait_for_load_state("networkidle")
        assert not scrolls_sideways(narrow_page), path
    narrow_page.get_by_role("button", name="Log out").click()
    narrow_page.wait_for_url(re.compile(r"/login"))
    assert not scrolls_sideways(narrow_page), "/login"


def test_the_history_stacks_its_rows_on_a_phone(narrow_page, server):
    narrow_page.goto(f"{server.url}/history")
    first = narrow_page.locator("#history-table tbody tr").first
    first.wait_for()
    verdict = first.locator("td").nth(1)
    assert verdict.evaluate("(cell) => getComputedStyle(cell, '::before').content") == '"Verdict"'
    delete = first.get_by_role("button", name="Delete")
    box = delete.bounding_box()
    assert box["x"] + box["width"] <= NARROWEST["width"]  # the last column is on screen, not cut off


def test_the_history_charts_have_a_count_axis_and_count_each_bar(page, server, images):
    analyse(page, [images["photo"], images["alpha"]])
    page.goto(f"{server.url}/history")
    status = page.locator("#table-status", has_text="verdict logs shown")
    status.wait_for()
    total = int(re.search(r"of (\d+) verdict logs shown", status.inner_text()).group(1))
    distribution = page.locator("#chart-distribution svg")
    bars = [int(text) for text in distribution.locator("text.bar-count").all_text_contents()]
    assert sum(bars) == total >= 2
    assert distribution.locator("text.axis-count").all_text_contents() == ["0", str(max(bars))]
    assert page.locator("#chart-time svg text.axis-count").all_text_contents()[0] == "0"


def test_the_delete_account_button_is_styled_as_a_button(page, server):
    page.goto(f"{server.url}/account")
    button = page.get_by_role("button", name="Delete my account")
    style = button.evaluate("(b) => [getComputedStyle(b).paddingLeft, getComputedStyle(b).backgroundColor]")
    assert float(style[0].removesuffix("px")) >= 12 and style[1] == "rgb(179, 38, 30)"  # --fake


def test_a_batch_summary_counts_each_verdict_most_suspicious_first(page, images, tmp_path):
    (tmp_path / "notes.png").write_text("these are not pixels\n" * 20)
    Image.new("RGB", (400, 300), (120, 90, 60)).save(tmp_path / "flat.png")
    analyse(page, [tmp_path / "notes.png", images["photo"], tmp_path / "flat.png"])
    summary = page.locator("#batch-summary").inner_text()
    assert summary == "Not detected: 1 · No face to judge: 1 · Could not be read: 1"


def test_a_large_batch_shows_one_line_per_card_that_opens_in_full(sized_page, images):
    analyse(sized_page, [images[name] for name in ("photo", "small", "grey", "alpha", "odd", "wide")])
    card = sized_page.locator(".result-card").first
    assert sized_page.locator("#compact-toggle").get_attribute("aria-pressed") == "true"
    assert card.locator(".card-line-text").inner_text().startswith("Not detected by this model: ")
    assert card.locator(".result-body").is_hidden()
    card.get_by_role("button", name="Show full result").click()
    assert card.locator(".result-body").is_visible() and card.locator(".verdict").is_visible()
    assert sized_page.locator(".result-card").nth(1).locator(".result-body").is_hidden()


def test_a_batch_sorts_most_suspicious_first_and_back_to_as_added(page, images, tmp_path):
    Image.new("RGB", (400, 300), (120, 90, 60)).save(tmp_path / "flat.png")  # no face: no score, sorts last
    analyse(page, [tmp_path / "flat.png", images["photo"], images["alpha"], images["wide"]])
    cards = page.locator(".result-card")

    def shown() -> list[tuple[str, float | None]]:
        rows = []
        for i in range(cards.count()):
            probability = cards.nth(i).locator(".probability").get_attribute("data-probability")
            rows.append((cards.nth(i).locator(".result-name").inner_text(), probability and float(probability)))
        return rows

    added = shown()
    assert [name for name, _ in added] == ["flat.png", images["photo"].name, images["alpha"].name, images["wide"].name]
    page.select_option("#sort-results", "suspicion")
    by_suspicion = shown()
    scores = [probability for _, probability in by_suspicion[:-1]]
    assert None not in scores and scores == sorted(scores, reverse=True)
    assert by_suspicion[-1] == ("flat.png", None)
    page.select_option("#sort-results", "added")
    assert shown() == added


def test_clear_removes_the_results_and_counts_again(page, images):
    analyse(page, [images["photo"], images["small"]])
    page.get_by_role("button", name="Clear results").click()
    assert page.locator(".result-card").count() == 0 and page.locator("#batch").is_hidden()
    analyse(page, [images["grey"]])
    assert page.locator("#batch-status").inner_text() == "Analysed 1 of 1."


UNDO_TIME_S = 8  # UNDO_MS in web/js/history.js


def history_with_one_more_log(page, server, images) -> int:
    """Analyses a picture and opens the history; returns how many logs the server holds."""
    analyse(page, [images["photo"]])
    page.goto(f"{server.url}/history")
    page.locator("body[data-ready=true]").wait_for(state="attached")
    return stored_total(page, server)


def stored_total(page, server) -> int:
    return page.context.request.get(f"{server.url}/api/verdicts?per_page=1").json()["total"]


def test_a_deleted_log_can_be_brought_back_with_undo(page, server, images):
    total = history_with_one_more_log(page, server, images)
    rows = page.locator("#history-table tbody tr")
    shown = rows.count()
    rows.first.get_by_role("button", name="Delete").click()
    assert rows.count() == shown - 1
    page.get_by_role("button", name="Undo").click()
    assert rows.count() == shown
    page.wait_for_timeout((UNDO_TIME_S + 2) * 1000)
    assert stored_total(page, server) == total


def test_a_deleted_log_is_deleted_on_the_server_once_the_undo_time_is_over(page, server, images):
    total = history_with_one_more_log(page, server, images)
    page.locator("#history-table tbody tr").first.get_by_role("button", name="Delete").click()
    assert stored_total(page, server) == total  # not yet: it can still be brought back
    page.wait_for_function(
        f"async () => (await (await fetch('/api/verdicts?per_page=1')).json()).total === {total - 1}",
        timeout=(UNDO_TIME_S + 10) * 1000,
        polling=500,
    )


def test_a_result_report_is_made_on_the_device_as_json_and_png(page, context, images):
    analyse(page, [images["photo"]])
    card = page.locator(".result-card").last
    recorder = RequestRecorder(context)
    with page.expect_download() as saved:
        card.get_by_role("button", name="Save report (JSON)").click()
    report = json.loads(Path(saved.value.path()).read_text())
    assert saved.value.suggested_filename == "photo-unmask.json"
    assert report["file_name"] == "photo.jpg"
    assert report["log"]["image_sha256"] == hashlib.sha256(images["photo"].read_bytes()).hexdigest()
    [face] = report["faces"]
    assert face["probability"] == float(card.locator(".face-row").first.get_attribute("data-probability"))
    assert report["verdict"] == card.locator(".verdict").inner_text()

    with page.expect_download() as saved:
        card.get_by_role("button", name="Save report (PNG)").click()
    with Image.open(saved.value.path()) as picture:
        assert picture.format == "PNG" and picture.width == 800
    assert [url for url, _ in recorder.requests if url.startswith("http")] == []  # made here, nothing sent


def test_the_export_holds_what_the_filter_shows(page, server, images):
    history_with_one_more_log(page, server, images)
    page.select_option("#filter-verdict", "real")
    shown = page.locator("#history-table tbody tr").count()
    with page.expect_download() as saved:
        page.get_by_role("link", name="Export JSON").click()
    items = json.loads(Path(saved.value.path()).read_text())["items"]
    assert len(items) == shown and {item["verdict"] for item in items} == {"real"}
    page.select_option("#filter-verdict", "uncertain")
    assert "uncertain=true" in page.get_by_role("link", name="Export CSV").get_attribute("href")


def unique_picture(folder: Path, seed: int) -> Path:
    """A picture with a face that no other test analyses (its own SHA-256)."""
    path = folder / f"unique-{seed}.png"
    Image.fromarray(with_face(smooth_image(320, 240, 1000 + seed))).save(path)
    return path


def test_a_file_checked_before_gets_a_note_instead_of_a_silent_duplicate(page, tmp_path):
    picture = unique_picture(tmp_path, 1)
    analyse(page, [picture])
    assert page.locator(".result-card").last.locator(".checked-before").is_hidden()
    analyse(page, [picture])
    note = page.locator(".result-card").last.locator(".checked-before")
    assert note.inner_text().startswith("You checked this file before (once): last on ")


def test_find_this_file_shows_its_earlier_checks(page, server, tmp_path):
    picture = unique_picture(tmp_path, 2)
    analyse(page, [picture])
    page.goto(f"{server.url}/history")
    page.locator("body[data-ready=true]").wait_for(state="attached")
    page.set_input_files("#find-file", str(picture))
    expect(page.locator("#table-status")).to_contain_text("This file was checked once")
    assert page.locator("#history-table tbody tr").count() == 1
    page.set_input_files("#find-file", str(unique_picture(tmp_path, 3)))
    expect(page.locator("#table-status")).to_have_text("This file was never checked (with the filters set).")


def test_the_history_shows_thumbnails_and_names_kept_on_this_device_only_until_logout(page, server, context, tmp_path):
    recorder = RequestRecorder(context)
    picture = unique_picture(tmp_path, 4)  # "Keep file names" is off: the name stays here
    analyse(page, [picture])
    page.goto(f"{server.url}/history")
    page.locator("body[data-ready=true]").wait_for(state="attached")
    page.set_input_files("#find-file", str(picture))
    row = page.locator("#history-table tbody tr")
    expect(row).to_have_count(1)
    assert picture.name in row.inner_text()
    thumbnail = row.locator("img.thumbnail")
    assert thumbnail.get_attribute("src").startswith("blob:")
    assert thumbnail.evaluate("(image) => image.complete && image.naturalWidth") == 96
    assert not any(picture.name.encode() in url.encode() + body for url, body in recorder.requests)

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login"))
    kept = page.evaluate("async () => (await (await import('/js/local-files.js')).localFiles('alice')).size")
    assert kept == 0


def test_a_clip_keeps_its_thumbnail_and_name_on_this_device(page, server, tmp_path):
    drawn_face(160).save(tmp_path / "face.png")
    clip = pattern_clip(
        tmp_path / "face-clip.webm",
        size="320x240",
        rate=5,
        seconds=2,
        encoder=["-c:v", "libvpx"],
        face=tmp_path / "face.png",
    )
    page.goto(f"{server.url}/video?backend=wasm")
    wait_until_ready(page)
    page.set_input_files("#file", str(clip))
    page.locator('#analysis[data-state="saved"]').wait_for(state="attached", timeout=120_000)
    page.goto(f"{server.url}/history")
    page.locator("body[data-ready=true]").wait_for(state="attached")
    page.set_input_files("#find-file", str(clip))
    row = page.locator("#history-table tbody tr")
    expect(row).to_have_count(1)
    assert "face-clip.webm" in row.inner_text()
    assert row.locator("img.thumbnail").evaluate("(image) => image.complete && image.naturalWidth") == 96

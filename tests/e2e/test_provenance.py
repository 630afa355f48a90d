"""What the file says: each provenance fixture gets its panel, its headline and its logged `provenance`, in
the real browser; GPS is shown only on request and, like the rest of the metadata, never leaves the device."""

from __future__ import annotations

import json
import sqlite3

import pytest
from c2pa_fixtures import CLAIM_GENERATOR, SIGNER_NAME, read_manifest
from e2e_support import RequestRecorder, pattern_clip, wait_for_results
from playwright.sync_api import expect
from provenance_fixtures import AI_TOOL, CAMERA, EDITOR, LATITUDE_SHOWN, PHONE

pytestmark = pytest.mark.slow

NO_METADATA = "No metadata: common after upload to social media; it says nothing either way."
CASES = {
    "sd": (
        "declared_ai",
        "Declared AI-generated (Stable Diffusion web UI, model sd_xl_base_1.0)",
        'PNG tEXt chunk "parameters"',
    ),
    "comfy": ("declared_ai", "Declared AI-generated (ComfyUI)", 'PNG tEXt chunk "prompt"'),
    "xmp_ai": ("declared_ai", f"Declared AI-generated ({AI_TOOL})", "DigitalSourceType = trainedAlgorithmicMedia"),
    "camera": ("camera", None, CAMERA["lens"]),
    "phone": ("camera", None, PHONE["model"]),
    "edited": ("edited", None, EDITOR),
    "stripped": ("none", None, NO_METADATA),
}
MODEL_HEADLINES = (
    "Likely deepfake",
    "Not detected by this model",
    "Uncertain (leaning not detected)",
    "Uncertain (leaning deepfake)",
)


def test_each_file_gets_its_panel_headline_and_logged_provenance(context, page, provenance_files):
    recorder = RequestRecorder(context)
    names = list(CASES)
    files = [provenance_files[name] for name in names]
    page.set_input_files("#files", [str(path) for path in files])
    wait_for_results(page, len(files))

    cards = page.locator(".result-card")
    for index, name in enumerate(names):
        kind, headline, shown = CASES[name]
        card = cards.nth(index)
        assert card.get_attribute("data-state") == "saved", name
        assert card.locator(".provenance").get_attribute("data-provenance") == kind, name
        verdict = card.locator(".verdict").inner_text()
        if headline:
            assert verdict == headline, name
            assert "the model alone says" in card.locator(".provenance-rule").inner_text()
        else:
            assert verdict in MODEL_HEADLINES, name
        assert shown in card.locator(".provenance").inner_text(), name
        assert "whatever the model says" in card.locator(".provenance-rule").inner_text()

    logs = {json.loads(body)["image_sha256"]: json.loads(body) for body in recorder.posts_to("/api/verdicts")}
    shown_hashes = [cards.nth(i).locator(".sha256").text_content() for i in range(len(names))]
    assert [logs[sha]["provenance"] for sha in shown_hashes] == [CASES[name][0] for name in names]
    recorder.assert_nothing_carries(files)
    for url, body in recorder.requests:  # no metadata text either: only the one word
        for secret in (LATITUDE_SHOWN, "48.858", CAMERA["lens"], "sd_xl_base", "KSampler", AI_TOOL, "holiday"):
            assert secret.encode() not in url.encode() + body, (url, secret)


def test_the_camera_panel_hides_the_location_until_asked(page, provenance_files):
    page.set_input_files("#files", str(provenance_files["camera"]))
    wait_for_results(page, 1)
    panel = page.locator(".provenance")
    assert "Canon EOS R5" in panel.inner_text() and "2024-04-30 09:15:00" in panel.inner_text()
    location = panel.locator(".provenance-location")
    assert LATITUDE_SHOWN not in page.content()
    location.locator("summary").click()  # the coordinates are written in on the (asynchronous) toggle event
    expect(location).to_contain_text(f"Latitude {LATITUDE_SHOWN}")
    panel.locator(".provenance-texts summary").click()
    assert "holiday, day 2" in panel.locator(".provenance-texts").inner_text()


def test_a_compressed_workflow_chunk_is_inflated(page, provenance_files):
    page.set_input_files("#files", str(provenance_files["comfy"]))
    wait_for_results(page, 1)
    texts = page.locator(".provenance-texts")
    texts.locator("summary").click()
    assert 'PNG zTXt chunk "workflow"' in texts.inner_text()
    assert "CheckpointLoaderSimple" in texts.inner_text()


def test_the_history_shows_and_filters_what_the_files_said(page, server, provenance_files):
    with sqlite3.connect(server.database) as database:
        database.execute("DELETE FROM verdicts")
        # A log from a page older than the field: its provenance is unknown (NULL).
        database.execute(
            "INSERT INTO verdicts (id, user_id, image_sha256, width, height, probability, verdict, uncertain,"
            " model_version, backend, inference_ms, analysed_at, kind, received_at)"
            " VALUES ('00000000-0000-4000-8000-000000000000', 1, ?, 1, 1, 0.9, 'deepfake', 0, 'm', 'wasm', 1,"
            " '2024-01-01T00:00:00.000000Z', 'image', '2024-01-01T00:00:00.000000Z')",
            ("0" * 64,),
        )
    page.set_input_files("#files", [str(provenance_files[name]) for name in ("sd", "xmp_ai", "camera")])
    wait_for_results(page, 3)
    page.goto(f"{server.url}/history")
    page.locator("body[data-ready=true]").wait_for(state="attached")
    rows = page.locator("#history-table tbody tr")
    assert rows.count() == 4
    said = page.locator("#history-table tbody td:nth-child(4)").all_inner_texts()
    assert sorted(said) == ["camera", "declared AI", "declared AI", "unknown"]
    for value, count in (("declared_ai", 2), ("camera", 1), ("unknown", 1), ("edited", 0), ("", 4)):
        page.select_option("#filter-provenance", value)
        assert rows.count() == count, value


def test_the_c2pa_fixtures_are_what_the_browser_test_expects(c2pa_files):
    # c2pa-python's own reading: signed and intact (only the test signer is untrusted), then tampered.
    signed, tampered = read_manifest(c2pa_files["signed"]), read_manifest(c2pa_files["tampered"])
    assert signed["validation_state"] == "Valid"
    assert [status["code"] for status in signed["validation_status"]] == ["signingCredential.untrusted"]
    assert tampered["validation_state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in [status["code"] for status in tampered["validation_status"]]


def test_content_credentials_are_validated_on_the_device(context, page, c2pa_files):
    recorder = RequestRecorder(context)
    names = ["signed", "tampered", "corrupted", "foreign"]
    page.set_input_files("#files", [str(c2pa_files[name]) for name in names])
    wait_for_results(page, len(names))

    signed, tampered, corrupted, foreign = (page.locator(".result-card").nth(i) for i in range(len(names)))
    assert signed.locator(".provenance").get_attribute("data-provenance") == "credential_valid"
    credential = signed.locator(".provenance-credential").inner_text()
    assert "Valid: the signature holds" in credential and "no trust list" in credential
    assert SIGNER_NAME in credential and CLAIM_GENERATOR in credential and "c2pa.created" in credential
    assert "revoked" in credential  # what offline validation cannot check is said
    assert signed.locator(".verdict").inner_text() in MODEL_HEADLINES  # a valid credential does not override

    assert tampered.get_attribute("data-state") == "saved"
    assert tampered.locator(".provenance").get_attribute("data-provenance") == "credential_invalid"
    assert tampered.locator(".credential-status").inner_text().startswith("Tampered")
    assert "Content Credentials (C2PA) do not hold" in tampered.locator(".provenance-summary").inner_text()

    assert corrupted.get_attribute("data-state") == "saved"  # a verdict still, and a credential that does not hold
    assert corrupted.locator(".provenance").get_attribute("data-provenance") == "credential_invalid"
    assert corrupted.locator(".provenance-credential .provenance-facts").inner_text().count("Problem") >= 1
    # A JUMBF segment that is not C2PA's is no credential at all.
    assert foreign.locator(".provenance").get_attribute("data-provenance") == "none"
    assert foreign.locator(".provenance-credential").count() == 0

    logs = [json.loads(body) for body in recorder.posts_to("/api/verdicts")]
    kinds = sorted(log["provenance"] for log in logs)
    assert kinds == ["credential_invalid", "credential_invalid", "credential_valid", "none"]
    recorder.assert_nothing_carries(list(c2pa_files.values()))
    assert not any(SIGNER_NAME.encode() in body for _, body in recorder.requests)


def test_a_video_with_content_credentials_shows_them_and_logs_the_word(browser, server, tmp_path):
    import shutil

    from c2pa_fixtures import flip_byte, sign_file
    from test_video import analyse, video_page

    from tests.faces_support import drawn_face

    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is missing: apt-get install -y ffmpeg")
    plain = tmp_path / "clip.mp4"  # VP9 in MP4: decoded by every Chromium build, signed by c2pa-python
    drawn_face(160).save(tmp_path / "face.png")  # a face, so that the clip gets a verdict beside its credentials
    pattern_clip(plain, size="320x240", rate=10, seconds=2, encoder=["-c:v", "libvpx-vp9"], face=tmp_path / "face.png")
    sign_file(plain, tmp_path / "signed.mp4", "video/mp4")
    # One byte of the movie header's creation time: the clip still plays, the signed hash no longer matches.
    creation_time = (tmp_path / "signed.mp4").read_bytes().find(b"mvhd") + 8
    flip_byte(tmp_path / "signed.mp4", tmp_path / "tampered.mp4", creation_time)

    with video_page(browser, server) as (context, page):
        recorder = RequestRecorder(context)
        expected = {
            "clip": ("none", "No Content Credentials"),
            "signed": ("credential_valid", "valid Content Credentials"),
            "tampered": ("credential_invalid", "do not hold"),
        }
        for name, (kind, summary) in expected.items():
            assert analyse(page, tmp_path / f"{name}.mp4") == "saved", page.locator("#status").inner_text()
            panel = page.locator("#result .provenance")
            assert panel.get_attribute("data-provenance") == kind, name
            assert summary in panel.locator(".provenance-summary").inner_text(), name
        assert page.locator(".credential-status").inner_text().startswith("Tampered")
        logs = [json.loads(body) for body in recorder.posts_to("/api/verdicts")]
        assert [(log["kind"], log["provenance"]) for log in logs] == [
            ("video", "none"),
            ("video", "credential_valid"),
            ("video", "credential_invalid"),
        ]
        recorder.assert_nothing_carries([tmp_path / "signed.mp4"])

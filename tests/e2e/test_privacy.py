"""Only the verdict log leaves the device: a recording of every request during a batch of analyses holds no
image bytes, no encoding of them, and no file name unless the user chose to keep file names."""

from __future__ import annotations

import json

import pytest
from e2e_support import IMAGE_LOG_FIELDS, RequestRecorder, wait_for_results

pytestmark = pytest.mark.slow

BATCH = ["photo", "alpha", "grey", "odd"]


def test_a_batch_sends_verdict_logs_only(context, page, images):
    recorder = RequestRecorder(context)
    files = [images[name] for name in BATCH]

    page.set_input_files("#files", [str(path) for path in files])
    wait_for_results(page, len(files))

    assert page.locator('.result-card[data-state="saved"]').count() == len(files)
    recorder.assert_nothing_carries(files)
    logs = [json.loads(body) for body in recorder.posts_to("/api/verdicts")]
    assert len(logs) == len(files)
    assert all(set(log) == IMAGE_LOG_FIELDS for log in logs)
    assert {log["provenance"] for log in logs} == {"none"}  # the test pictures carry no metadata


def test_file_names_are_sent_only_when_the_user_keeps_them(context, page, images):
    recorder = RequestRecorder(context)
    page.check("#keep-names")
    page.fill("#label", "case 17")

    page.set_input_files("#files", [str(images["photo"]), str(images["grey"])])
    wait_for_results(page, 2)

    recorder.assert_nothing_carries([images["photo"], images["grey"]], names_allowed=True)
    logs = [json.loads(body) for body in recorder.posts_to("/api/verdicts")]
    assert sorted(log["file_name"] for log in logs) == ["grey.png", "photo.jpg"]
    assert {log["label"] for log in logs} == {"case 17"}

"""Faces first, in the real page: every face in a picture is found, boxed and judged on its own, and keeps its
score when it stands in a scene or a group; a picture without a face gets no verdict and posts nothing until
the user asks for the whole picture to be judged. Real faces come from ../shared/data (skipped without it)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from e2e_support import RequestRecorder, wait_for_results
from PIL import Image

from tests.faces_support import FAKE_FACES, REAL_FACES, real_face_files, scene
from unmask.training.faces import FaceCache, find_faces

pytestmark = pytest.mark.slow

FACE_SIDE = 240  # 15% of a 1600 px wide scene
PORTRAIT_SIDE = 2 * FACE_SIDE
# The "Faces first" issue's bound. The model judges each face in the four framings a pixel apart (models.py,
# phase_averaged), so the detector framing a face a pixel or two differently in another picture moves its score
# little: bench/framing_stability.py, over 30 faces, median worst change 0.035, 70% of faces within 0.05 and 93%
# keeping their verdict.
PROBABILITY_TOLERANCE = 0.05


def face_picture(folder: Path, path: Path, index: int = 0) -> Image.Image:
    """A portrait: a real face resized once to FACE_SIDE in the middle of a backdrop twice its size, so that
    the square judged around the face lies inside it. The same pixels stand alone and in the scenes."""
    face = Image.open(real_face_files(folder, index + 1)[index]).convert("RGB")
    picture = scene(PORTRAIT_SIDE, PORTRAIT_SIDE, seed=100 + index)
    picture.paste(face.resize((FACE_SIDE, FACE_SIDE), Image.Resampling.LANCZOS), (FACE_SIDE // 2, FACE_SIDE // 2))
    picture.save(path)
    return picture


def analyse(page, paths: list[Path]) -> None:
    page.set_input_files("#files", [str(path) for path in paths])
    wait_for_results(page, len(paths))


def face_probabilities(card) -> list[float]:
    rows = card.locator(".face-row[data-probability]")
    return [float(rows.nth(i).get_attribute("data-probability")) for i in range(rows.count())]


def stored_logs(server) -> list[sqlite3.Row]:
    with sqlite3.connect(server.database) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute("SELECT probability, faces, width FROM verdicts ORDER BY received_at").fetchall()


def test_a_face_keeps_its_score_in_a_scene_at_the_edge_and_in_a_big_photo(page, server, tmp_path):
    face = face_picture(FAKE_FACES, tmp_path / "alone.png")
    pictures = [tmp_path / "alone.png"]
    for name, size, place in (
        ("scene", (1600, 1000), (580, 260)),
        ("edge", (1600, 1000), (1120, 300)),
        ("photo", (4000, 3000), (1900, 1400)),
    ):
        backdrop = scene(*size, seed=len(pictures))
        backdrop.paste(face, place)
        backdrop.save(tmp_path / f"{name}.png")
        pictures.append(tmp_path / f"{name}.png")
    analyse(page, pictures)

    cards = page.locator(".result-card")
    alone = face_probabilities(cards.nth(0))
    assert len(alone) == 1
    for index in (1, 2, 3):
        card = cards.nth(index)
        assert card.get_attribute("data-state") == "saved"
        assert card.get_attribute("data-faces") == "1"
        [probability] = face_probabilities(card)
        assert abs(probability - alone[0]) <= PROBABILITY_TOLERANCE, (index, probability, alone[0])
        assert float(card.locator(".probability").get_attribute("data-probability")) == probability
    assert [row["faces"] for row in stored_logs(server)[-4:]] == [1, 1, 1, 1]


def test_each_face_of_a_group_is_judged_and_the_picture_takes_the_most_suspicious(page, server, tmp_path):
    faces = [
        face_picture(REAL_FACES, tmp_path / "real0.png", 0),
        face_picture(FAKE_FACES, tmp_path / "fake.png", 1),
        face_picture(REAL_FACES, tmp_path / "real1.png", 1),
    ]
    group = scene(1600, 700, seed=9)
    for i, face in enumerate(faces):
        group.paste(face, (40 + 520 * i, 110))
    group.save(tmp_path / "group.png")
    analyse(page, [tmp_path / "real0.png", tmp_path / "fake.png", tmp_path / "real1.png", tmp_path / "group.png"])

    cards = page.locator(".result-card")
    alone = [face_probabilities(cards.nth(i))[0] for i in range(3)]
    in_group = face_probabilities(cards.nth(3))  # rows are numbered left to right, as pasted
    assert len(in_group) == 3
    for probability, expected in zip(in_group, alone, strict=True):
        assert abs(probability - expected) <= PROBABILITY_TOLERANCE
    picture = float(cards.nth(3).locator(".probability").get_attribute("data-probability"))
    assert picture == max(in_group)
    assert stored_logs(server)[-1]["faces"] == 3
    assert stored_logs(server)[-1]["probability"] == pytest.approx(picture)


def test_a_face_too_small_to_judge_is_boxed_without_a_verdict(page, server, tmp_path):
    face = Image.open(real_face_files(FAKE_FACES, 1)[0]).convert("RGB").resize((40, 40), Image.Resampling.LANCZOS)
    backdrop = scene(640, 480, seed=11)
    backdrop.paste(face, (300, 200))
    backdrop.save(tmp_path / "tiny.png")
    before = len(stored_logs(server))
    analyse(page, [tmp_path / "tiny.png"])

    card = page.locator(".result-card").last
    assert card.get_attribute("data-state") == "no-face"
    assert "No face large enough to judge" in card.locator(".no-face-message").inner_text()
    assert len(stored_logs(server)) == before


def test_a_picture_without_a_face_gets_no_verdict_and_posts_nothing_until_asked(page, server, context, tmp_path):
    recorder = RequestRecorder(context)
    scene(1200, 800, seed=12).save(tmp_path / "landscape.png")
    before = len(stored_logs(server))
    analyse(page, [tmp_path / "landscape.png"])

    card = page.locator(".result-card").last
    assert card.get_attribute("data-state") == "no-face"
    assert card.locator(".no-face-message").inner_text() == "No face found: nothing to judge here."
    assert card.locator(".verdict").inner_text() == ""
    assert recorder.posts_to("/api/verdicts") == []
    assert len(stored_logs(server)) == before

    card.locator(".judge-whole").click()
    card.locator("[data-state=saved]").or_(page.locator(".result-card[data-state=saved]").last).wait_for()
    assert card.locator(".whole-note").is_visible()
    [posted] = [json.loads(body) for body in recorder.posts_to("/api/verdicts")]
    assert posted["faces"] == 0
    assert stored_logs(server)[-1]["faces"] == 0


def test_the_browser_crops_the_faces_python_crops(page, tmp_path):
    face = face_picture(FAKE_FACES, tmp_path / "face.png", 2)
    backdrop = scene(1600, 1000, seed=13)
    backdrop.paste(face, (300, 400))
    backdrop.save(tmp_path / "scene.jpg", quality=90)
    analyse(page, [tmp_path / "scene.jpg"])

    row = page.locator(".result-card").last.locator(".face-row").first
    browser_crop = [int(value) for value in row.get_attribute("data-crop").split(",")]
    [python_face] = find_faces([tmp_path / "scene.jpg"], FaceCache(tmp_path / "cache"))[str(tmp_path / "scene.jpg")]
    python_crop = [python_face.crop_left, python_face.crop_top, python_face.crop_side]
    assert all(abs(a - b) <= 2 for a, b in zip(browser_crop, python_crop, strict=True)), (browser_crop, python_crop)

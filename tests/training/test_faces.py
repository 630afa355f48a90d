"""Faces in training pictures: the browser's detector (web/js/faces.js under Node) finds each face where it
was pasted, nothing in pictures without one, and its results are cached by file content."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.faces_support import FAKE_FACES, REAL_FACES, inside, paste, real_face_files, scene
from unmask.training.faces import FaceCache, face_crops, find_faces

pytestmark = pytest.mark.slow


def detect(tmp_path: Path, picture: Image.Image, name: str = "picture.png") -> list:
    path = tmp_path / name
    picture.save(path)
    return find_faces([path], FaceCache(tmp_path / "cache"))[str(path)]


def test_a_face_at_15_percent_of_a_scene_is_found_where_it_was_pasted(tmp_path: Path) -> None:
    backdrop = scene(1600, 1000)
    region = paste(backdrop, real_face_files(FAKE_FACES, 1)[0], 700, 380, 240)
    faces = detect(tmp_path, backdrop)
    assert len(faces) == 1
    face = faces[0]
    assert inside({"left": face.left, "top": face.top, "width": face.width, "height": face.height}, region)
    left, top, right, bottom = face.crop_box
    assert right - left == bottom - top  # square
    assert left <= region[0] + 60 and right >= region[2] - 60  # the crop holds the face


def test_a_face_cut_by_the_centre_square_is_still_found_at_the_edge(tmp_path: Path) -> None:
    backdrop = scene(1600, 1000, seed=1)
    region = paste(backdrop, real_face_files(REAL_FACES, 1)[0], 1340, 400, 240)
    faces = detect(tmp_path, backdrop)
    assert [inside(vars(f), region) for f in faces] == [True]
    assert faces[0].crop_box[2] <= 1600  # the crop stays inside the picture


def test_each_face_of_a_group_is_found(tmp_path: Path) -> None:
    backdrop = scene(1500, 700, seed=2)
    files = real_face_files(FAKE_FACES, 3)
    regions = [paste(backdrop, file, 100 + 480 * i, 200, 300) for i, file in enumerate(files)]
    faces = detect(tmp_path, backdrop)
    assert len(faces) == 3
    for region in regions:
        assert sum(inside(vars(face), region) for face in faces) == 1


def test_a_picture_without_a_face_has_none(tmp_path: Path) -> None:
    assert detect(tmp_path, scene(1200, 800, seed=3)) == []


def test_a_face_that_fills_the_frame_is_found(tmp_path: Path) -> None:
    face_file = real_face_files(REAL_FACES, 1)[0]
    faces = find_faces([face_file], FaceCache(tmp_path / "cache"))[str(face_file)]
    assert len(faces) == 1
    with Image.open(face_file) as picture:
        assert faces[0].crop_box[2] - faces[0].crop_box[0] >= 0.8 * min(picture.size)


def test_detection_is_cached_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "scene.png"
    backdrop = scene(800, 600, seed=4)
    paste(backdrop, real_face_files(FAKE_FACES, 1)[0], 300, 200, 200)
    backdrop.save(path)
    first = find_faces([path], FaceCache(tmp_path / "cache"))
    copy = tmp_path / "copy.png"
    copy.write_bytes(path.read_bytes())
    monkeypatch.setenv("PATH", "")  # no Node: only the cache can answer
    assert find_faces([copy], FaceCache(tmp_path / "cache"))[str(copy)] == first[str(path)]


def test_face_crops_count_pictures_with_a_face_per_folder(tmp_path: Path) -> None:
    folder = tmp_path / "set" / "Real"
    folder.mkdir(parents=True)
    scene(600, 400, seed=5).save(folder / "empty.png")
    with_face = scene(600, 400, seed=6)
    paste(with_face, real_face_files(REAL_FACES, 1)[0], 200, 100, 200)
    with_face.save(folder / "face.png")
    crops, summary = face_crops(sorted(folder.iterdir()))
    assert summary == {"set/Real": {"pictures": 2, "with_face": 1}}
    assert crops[str(folder / "empty.png")] is None


def test_a_face_gets_nearly_the_same_crop_in_a_portrait_and_in_a_big_photo(tmp_path: Path) -> None:
    # The photo's face is found on a coarser pyramid level than the portrait's; refining each face in a window
    # of its own keeps its crop within a few pixels (the model reads the finest pixels).
    for index, face_file in enumerate(real_face_files(FAKE_FACES, 3)):
        portrait = scene(480, 480, seed=index)
        paste(portrait, face_file, 120, 120, 240)
        photo = scene(4000, 3000, seed=index)
        photo.paste(portrait, (1900, 1400))
        [alone] = detect(tmp_path, portrait, f"portrait{index}.png")
        [in_photo] = detect(tmp_path, photo, f"photo{index}.png")
        side = alone.crop_side
        assert abs(in_photo.crop_side - side) <= 0.04 * side
        assert abs(in_photo.crop_left - 1900 - alone.crop_left) <= 0.03 * side
        assert abs(in_photo.crop_top - 1400 - alone.crop_top) <= 0.03 * side

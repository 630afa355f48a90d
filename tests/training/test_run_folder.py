"""The run folder: its one reader and writer, and the folders written before it recorded provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from unmask import UserFacingError
from unmask.training import run_folder
from unmask.training.calibration import Calibration
from unmask.training.data import DEEPFAKE, REAL, Sample
from unmask.training.run_folder import RunFolder

MODELS = Path(__file__).resolve().parents[2] / "models"
OLD_RUNS = sorted(path.parent for path in MODELS.glob("**/run.json"))


def test_the_old_run_folders_are_found() -> None:
    assert {"npr", "compare/npr", "loso/utkface-real"} <= {str(path.relative_to(MODELS)) for path in OLD_RUNS}


@pytest.mark.parametrize("path", OLD_RUNS, ids=lambda path: str(path.relative_to(MODELS)))
def test_an_old_run_folder_reads_its_architecture_and_calibration(path: Path) -> None:
    run = RunFolder(path).read_run()
    assert run["architecture"] in {"npr", "unmasknet", "paper"}
    assert Calibration.of_run(run) != Calibration()


def test_a_split_reads_back_as_written_though_the_folder_moved(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    samples = [Sample(data / "a.png", REAL, "camera"), Sample(data / "b.png", DEEPFAKE, "generator")]
    for sample in samples:
        sample.path.write_bytes(b"x")
    RunFolder(tmp_path / "runs" / "one").write_split({"test": samples})
    (tmp_path / "runs").rename(tmp_path / "moved")
    read = RunFolder(tmp_path / "moved" / "one").read_split("test")
    assert [(s.path.resolve(), s.label, s.source) for s in read] == [(s.path, s.label, s.source) for s in samples]


def test_a_split_with_a_missing_file_is_skipped_whole(tmp_path: Path) -> None:
    present = tmp_path / "a.png"
    present.write_bytes(b"x")
    folder = RunFolder(tmp_path / "run")
    folder.write_split({"test": [Sample(present, REAL), Sample(tmp_path / "gone.png", DEEPFAKE)]})
    assert folder.read_split("test") == []


def test_a_folder_without_run_json_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(UserFacingError, match="is not a training run folder"):
        RunFolder(tmp_path).read_run()


def test_a_folder_without_its_model_cannot_load_one(tmp_path: Path) -> None:
    RunFolder(tmp_path).write_run({"architecture": "npr"})
    with pytest.raises(UserFacingError, match="needs run.json and model.keras"):
        RunFolder(tmp_path).load_model()


def test_a_broken_run_json_is_a_clear_error(tmp_path: Path) -> None:
    RunFolder(tmp_path).run_file.write_text("{not json")
    with pytest.raises(UserFacingError, match="run.json is not valid JSON"):
        RunFolder(tmp_path).read_run()


def test_the_code_revision_outside_a_checkout_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_folder, "SOURCE_DIR", tmp_path)
    assert run_folder.code_revision() == "unknown"

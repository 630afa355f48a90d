"""`unmask train` and `unmask evaluate` end to end, in-process, on a tiny generated dataset.

Real images are smooth gradients with a blob, saved as PNG; deepfakes are the same kind of picture with a
strong periodic texture, saved as JPEG (so history equalisation has something to do). Two tiny epochs:
the point is the run folder and the report, not accuracy.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from conftest import write_toy_dataset as _write_dataset  # noqa: E402

from unmask.cli import main  # noqa: E402
from unmask.training.run_folder import RECORDED_PACKAGES, RunFolder  # noqa: E402
from unmask.training.train import AUGMENTATION  # noqa: E402

PER_CLASS = 24


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, Path, int]:
    base = tmp_path_factory.mktemp("training_run")
    data = _write_dataset(base / "toyfaces", seed=0)
    (data / "Real" / "broken.png").write_bytes(b"this is not a png")
    run = base / "run"
    code = main(["train", "--data", str(data), "--out", str(run), "--epochs", "2", "--batch-size", "8"])
    return run, data, code


def _run_record(run: Path) -> dict:
    return RunFolder(run).read_run()


@pytest.mark.slow
def test_train_exits_zero_and_writes_the_run_folder(trained_run) -> None:
    run, _, code = trained_run
    assert code == 0
    folder = RunFolder(run)
    for path in (folder.model_file, folder.run_file, folder.split_file):
        assert path.is_file(), path.name


@pytest.mark.slow
def test_run_json_records_architecture_seed_and_calibration(trained_run) -> None:
    record = _run_record(trained_run[0])
    assert record["architecture"] == "npr"
    assert isinstance(record["config"]["seed"], int)
    assert record["config"]["epochs"] == 2 and record["config"]["batch_size"] == 8
    assert all(np.isfinite(record["calibration"][key]) for key in ("scale", "offset"))


@pytest.mark.slow
def test_run_json_records_the_augmentation_settings(trained_run) -> None:
    assert _run_record(trained_run[0])["augmentation"] == json.loads(json.dumps(asdict(AUGMENTATION)))


@pytest.mark.slow
def test_run_json_records_the_code_revision_and_package_versions(trained_run) -> None:
    import keras

    provenance = _run_record(trained_run[0])["provenance"]
    assert provenance["code_revision"] != "unknown"  # the tests run in a checkout
    assert set(provenance["packages"]) == set(RECORDED_PACKAGES)
    assert provenance["packages"]["keras"] == keras.__version__


@pytest.mark.slow
def test_run_json_history_has_a_validation_loss_per_epoch(trained_run) -> None:
    record = _run_record(trained_run[0])
    epochs = record["training"]["epochs_run"]
    assert epochs == 2
    assert len(record["history"]["val_loss"]) == len(record["history"]["loss"]) == epochs


@pytest.mark.slow
def test_run_json_counts_the_data_and_names_skipped_files(trained_run) -> None:
    record = _run_record(trained_run[0])
    counts = record["data"]["counts"]
    assert sum(c["Real"] for c in counts.values()) == PER_CLASS + 1  # the broken file is found, then skipped
    assert sum(c["Deepfake"] for c in counts.values()) == PER_CLASS
    assert all(c["Real"] > 0 and c["Deepfake"] > 0 for c in counts.values())


@pytest.mark.slow
def test_split_json_paths_are_relative_to_the_run_folder_and_resolve(trained_run) -> None:
    run, data, _ = trained_run
    split = json.loads(RunFolder(run).split_file.read_text())
    entries = [entry for part in ("train", "val", "test") for entry in split[part]]
    assert len(entries) == 2 * PER_CLASS + 1
    for entry in entries:
        assert not Path(entry["path"]).is_absolute()
        resolved = (run / entry["path"]).resolve()
        assert resolved.is_file()
        assert resolved.parent.name == entry["label"]
        assert data.resolve() in resolved.parents


@pytest.mark.slow
def test_train_writes_the_evaluation_report(trained_run) -> None:
    run = trained_run[0]
    report_dir = RunFolder(run).report_dir
    report = RunFolder(run).read_report()
    assert (report_dir / "report.md").read_text().strip()
    assert list(report_dir.glob("*.png"))
    folders = report["folders"]
    assert "toyfaces/test" in folders
    for probe in ("JPEG q75", "JPEG q95", "PNG", "4x larger, JPEG q90", "re-framed"):
        assert f"toyfaces/test ({probe})" in folders
    for folder in folders.values():
        for plot in folder["plots"].values():
            assert plot is None or (report_dir / plot).is_file()


@pytest.mark.slow
def test_evaluate_handles_a_folder_holding_only_fakes(trained_run, tmp_path, capsys) -> None:
    run = trained_run[0]
    fakes = _write_dataset(tmp_path / "only-fakes", seed=5, classes=("fake",), count=6)
    out = tmp_path / "report"
    capsys.readouterr()
    code = main(["evaluate", "--model", str(run), "--data", str(fakes), "--out", str(out), "--no-test-split"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    metrics = report["folders"]["only-fakes"]["metrics"]
    assert metrics["count"] == 6 and metrics["negatives"] == 0
    assert report["folders"]["only-fakes"]["plots"]["roc"] is None
    assert "only-fakes: n=6 (deepfakes only) detection rate=" in capsys.readouterr().out


def test_train_without_a_deepfake_folder_fails_clearly(tmp_path, capsys) -> None:
    data = _write_dataset(tmp_path / "reals-only", seed=1, classes=("Real",), count=3)
    run = tmp_path / "run"
    code = main(["train", "--data", str(data), "--out", str(run), "--epochs", "1"])
    captured = capsys.readouterr()
    assert code == 2
    assert "unmask train: error:" in captured.err
    assert "Deepfake" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_a_train_refused_for_missing_data_leaves_no_run_folder(tmp_path) -> None:
    data = _write_dataset(tmp_path / "reals-only", seed=1, classes=("Real",), count=3)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run)]) == 2
    assert not run.exists()


@pytest.mark.slow
def test_calibrate_sets_the_operating_point_again_on_validation_faces_as_stored_and_resaved(trained_run) -> None:
    run = trained_run[0]
    assert main(["calibrate", "--run", str(run), "--target-fpr", "0.0"]) == 0
    calibration = _run_record(run)["calibration"]
    assert calibration["target_fpr"] == 0.0
    assert set(calibration["val_flagged_by_group"]) == {"as stored", "JPEG q95", "4x larger, JPEG q90"}
    for view in calibration["val_flagged_by_group"].values():
        assert view["toyfaces/Real"] == 0.0  # no validation real face of any view reaches probability 0.5
    assert calibration["offset"] == pytest.approx(-calibration["scale"] * calibration["threshold_logit"])


def test_calibrate_refuses_a_folder_that_is_not_a_run(tmp_path, capsys) -> None:
    assert main(["calibrate", "--run", str(tmp_path)]) == 2
    assert "not a training run folder" in capsys.readouterr().err

"""The browser model gives the same numbers as the Python model (within 1e-3, on real images).

The exported graph model runs in Node on the wasm backend (the one the page uses) from web/node_modules,
and is compared with the run's Keras twin (`training.evaluate.load_browser_twin`: the model with its Platt
calibration, probability = sigmoid(scale * logit + offset)) on inputs made by `preprocess()`.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

TOLERANCE = 1e-3
# ../shared/data beside the repository (optional; the real-face case is skipped without it).
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL_FACES = SHARED_DATA / "ffhq-stylegan2"
REAL_FACES_PER_CLASS = 4


# ---------------------------------------------------------------------------------------------------------
# Inputs


def _synthetic_files(folder: Path) -> list[Path]:
    """Small images of varied kinds, sizes and formats, written as files so they take the real decode path."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(7)
    images: dict[str, Image.Image] = {}

    x = np.linspace(0, 255, 300)
    y = np.linspace(0, 255, 200)
    gradient = np.stack([np.add.outer(y * 0, x), np.add.outer(y, x * 0), np.add.outer(y, x) / 2], axis=-1)
    images["gradient.png"] = Image.fromarray(gradient.astype(np.uint8))  # landscape, centre crop

    images["noise.png"] = Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
    images["noise_small.bmp"] = Image.fromarray(rng.integers(0, 256, (61, 97, 3), dtype=np.uint8))  # upscaled

    face = Image.new("RGB", (400, 480), (180, 200, 225))
    draw = ImageDraw.Draw(face)
    draw.ellipse((90, 80, 310, 380), fill=(224, 172, 140), outline=(120, 80, 60), width=4)  # head
    draw.ellipse((140, 180, 185, 205), fill=(255, 255, 255))
    draw.ellipse((215, 180, 260, 205), fill=(255, 255, 255))
    draw.ellipse((153, 183, 172, 202), fill=(60, 40, 30))
    draw.ellipse((228, 183, 247, 202), fill=(60, 40, 30))
    draw.polygon([(200, 210), (185, 270), (215, 270)], fill=(200, 140, 110))  # nose
    draw.arc((155, 280, 245, 330), 10, 170, fill=(150, 50, 50), width=6)  # mouth
    draw.rectangle((0, 430, 400, 480), fill=(40, 60, 90))  # shoulders
    images["face.png"] = face
    images["face_blur.jpg"] = face.filter(ImageFilter.GaussianBlur(3))
    images["face_large.jpg"] = face.resize((1200, 1440), Image.Resampling.BICUBIC)  # downscaled, not aliased

    checker = (np.indices((224, 224)).sum(axis=0) // 8 % 2 * 255).astype(np.uint8)
    images["checker_grey.png"] = Image.fromarray(checker, mode="L")
    images["flat.png"] = Image.new("RGB", (224, 224), (128, 128, 128))

    files = []
    for name, image in images.items():
        path = folder / name
        buffer = io.BytesIO()
        image.save(buffer, format={"png": "PNG", "jpg": "JPEG", "bmp": "BMP"}[name.rsplit(".", 1)[1]])
        path.write_bytes(buffer.getvalue())
        files.append(path)
    return files


@pytest.fixture(scope="module")
def synthetic_images(tmp_path_factory) -> np.ndarray:
    from unmask.training.preprocessing import preprocess

    files = _synthetic_files(tmp_path_factory.mktemp("images"))
    return np.stack([preprocess(path) for path in files])


def _real_face_files() -> list[Path]:
    files = []
    for label in ("Real", "Deepfake"):
        folder = REAL_FACES / label
        candidates = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
        files += candidates[:REAL_FACES_PER_CLASS]
    return files


# ---------------------------------------------------------------------------------------------------------
# Parity


@pytest.mark.slow
def test_browser_matches_keras_on_synthetic_images(exported_model, synthetic_images):
    from unmask.converter.parity import check_parity

    result = check_parity(exported_model.run_dir, exported_model.model_dir, synthetic_images, tolerance=TOLERANCE)
    print(result.summary())
    assert result.passed, result.summary()
    assert result.max_abs_diff_probability <= TOLERANCE
    assert result.max_abs_diff_evidence is not None and result.max_abs_diff_evidence <= TOLERANCE
    # The comparison means something only if the model gives varied, unsaturated answers.
    assert np.ptp(result.keras_probability) > 0.05, result.keras_probability
    assert np.all((result.keras_probability > 0.001) & (result.keras_probability < 0.999))


@pytest.mark.slow
@pytest.mark.skipif(
    not (REAL_FACES / "Real").is_dir() or not (REAL_FACES / "Deepfake").is_dir(),
    reason=f"real face data not found at {REAL_FACES} (../shared/data/ffhq-stylegan2 beside the "
    "repository, with Real/ and Deepfake/)",
)
def test_browser_matches_keras_on_real_faces(exported_model):
    from unmask.converter.parity import check_parity
    from unmask.training.preprocessing import preprocess

    files = _real_face_files()
    assert len(files) == 2 * REAL_FACES_PER_CLASS, files
    images = np.stack([preprocess(path) for path in files])
    result = check_parity(exported_model.run_dir, exported_model.model_dir, images, tolerance=TOLERANCE)
    print(result.summary())
    assert result.passed, result.summary()


@pytest.mark.slow
def test_wasm_and_cpu_backends_agree(exported_model, synthetic_images):
    from unmask.converter.parity import browser_predictions

    wasm = browser_predictions(exported_model.model_dir, synthetic_images[:3], backend="wasm")
    cpu = browser_predictions(exported_model.model_dir, synthetic_images[:3], backend="cpu")
    assert np.max(np.abs(wasm["probability"] - cpu["probability"])) <= TOLERANCE
    assert np.max(np.abs(wasm["evidence"] - cpu["evidence"])) <= TOLERANCE


@pytest.mark.slow
def test_calibration_is_carried_into_the_browser_model(exported_model, synthetic_images):
    import keras

    from unmask.converter.parity import browser_predictions
    from unmask.training.models import phase_averaged

    model = keras.saving.load_model(exported_model.run_dir / "model.keras")
    outputs = phase_averaged(model).predict(synthetic_images, batch_size=8, verbose=0)
    logit = np.asarray(outputs["logit"], dtype=np.float64).reshape(-1)
    evidence = np.asarray(outputs["evidence"], dtype=np.float64).reshape(len(logit), -1)
    browser = browser_predictions(exported_model.model_dir, synthetic_images)

    scale, offset = exported_model.calibration.scale, exported_model.calibration.offset
    assert (scale, offset) == (0.5, -0.3)
    expected = 1.0 / (1.0 + np.exp(-(scale * logit + offset)))
    assert np.max(np.abs(browser["probability"] - expected)) <= TOLERANCE
    assert np.max(np.abs(browser["probability"] - exported_model.calibration.apply(logit))) <= TOLERANCE
    assert np.max(np.abs(browser["evidence"] - (scale * evidence + offset))) <= TOLERANCE
    # The probability is sigmoid(mean of the calibrated evidence map), as metadata.json says.
    assert np.max(np.abs(browser["probability"] - 1 / (1 + np.exp(-browser["evidence"].mean(axis=1))))) <= TOLERANCE
    # ... and both the scale and the offset visibly matter on these inputs (else this test would prove nothing).
    assert np.max(np.abs(expected - 1.0 / (1.0 + np.exp(-logit)))) > 0.05
    assert np.max(np.abs(expected - 1.0 / (1.0 + np.exp(-scale * logit)))) > 0.05
    assert np.max(np.abs(expected - 1.0 / (1.0 + np.exp(-(logit + offset))))) > 0.05


@pytest.mark.slow
@pytest.mark.parametrize(
    "calibration",
    [{"scale": 1.0, "offset": -0.3}, {"scale": 0.5, "offset": 0.0}, {}],
    ids=["other-scale", "other-offset", "uncalibrated"],
)
def test_verify_export_rejects_a_mismatched_model(exported_model, synthetic_images, tmp_path, calibration):
    """The check can fail: the same export judged against a run with another calibration."""
    from unmask import UserFacingError
    from unmask.converter.parity import verify_export
    from unmask.training.run_folder import RunFolder

    other_run = tmp_path / "run"
    shutil.copytree(exported_model.run_dir, other_run)
    folder = RunFolder(other_run)
    run = folder.read_run()
    run["calibration"] = {"method": "Platt scaling on the validation split", **calibration}
    folder.write_run(run)

    with pytest.raises(UserFacingError, match="does not match") as raised:
        verify_export(other_run, exported_model.model_dir, synthetic_images[:4])
    message = str(raised.value)
    assert "metadata.json says calibration scale 0.5, offset -0.3" in message
    # The numbers themselves differ too, not only the metadata.
    assert "probability differs by" in message


@pytest.mark.slow
def test_verify_export_accepts_the_matching_run(exported_model, tmp_path):
    from unmask.converter.parity import verify_export

    # Image files (decoded by `preprocess`) instead of arrays.
    files = _synthetic_files(tmp_path)[:2]
    result = verify_export(exported_model.run_dir, exported_model.model_dir, files)
    assert result.passed and result.n_images == 2
    assert result.calibration == exported_model.calibration
    assert "scale=0.5, offset=-0.3" in result.summary()


# ---------------------------------------------------------------------------------------------------------
# metadata.json of the export


@pytest.mark.slow
def test_metadata_file_hashes_match_the_files(exported_model):
    model_dir = exported_model.model_dir
    metadata = json.loads((model_dir / "metadata.json").read_text())
    on_disk = {p.name for p in model_dir.iterdir() if p.is_file() and p.name != "metadata.json"}
    assert set(metadata["files"]) == on_disk
    for name, digest in metadata["files"].items():
        assert hashlib.sha256((model_dir / name).read_bytes()).hexdigest() == digest, name
    model_json = json.loads((model_dir / "model.json").read_text())
    shards = {path for group in model_json["weightsManifest"] for path in group["paths"]}
    assert shards <= on_disk


@pytest.mark.slow
def test_metadata_names_nodes_of_the_graph(exported_model):
    metadata = json.loads((exported_model.model_dir / "metadata.json").read_text())
    model_json = json.loads((exported_model.model_dir / "model.json").read_text())
    signature = model_json["signature"]
    graph_nodes = {node["name"] for node in model_json["modelTopology"]["node"]}

    assert metadata["input"]["name"] in {spec["name"] for spec in signature["inputs"].values()}
    signature_outputs = {spec["name"] for spec in signature["outputs"].values()}
    assert set(metadata["outputs"]) == {"probability", "evidence"}
    for key, spec in metadata["outputs"].items():
        assert spec["node"] in signature_outputs, key
        assert spec["node"] == signature["outputs"][key]["name"], key
        assert spec["node"].split(":")[0] in graph_nodes, key
    assert metadata["input"]["name"].split(":")[0] in graph_nodes


@pytest.mark.slow
def test_metadata_threshold_and_calibration(exported_model):
    from unmask.training.calibration import Calibration
    from unmask.training.run_folder import RunFolder

    metadata = json.loads((exported_model.model_dir / "metadata.json").read_text())
    run = RunFolder(exported_model.run_dir).read_run()
    assert metadata["threshold"] == 0.5
    # The run's calibration record is carried whole: the method, scale, offset and its validation effect.
    assert metadata["calibration"] == run["calibration"]
    assert metadata["calibration"]["scale"] == 0.5 and metadata["calibration"]["offset"] == -0.3
    assert {"method", "val_ece_before", "val_ece_after"} <= set(metadata["calibration"])
    assert "temperature" not in metadata["calibration"]
    assert Calibration.of_run(metadata) == exported_model.calibration
    assert metadata["input"]["shape"] == [1, 128, 128, 3]
    assert metadata["architecture"] == "npr"


# ---------------------------------------------------------------------------------------------------------
# Clear errors when the browser side cannot run (fast)


def test_missing_node_modules_tells_how_to_install(monkeypatch, tmp_path):
    from unmask import UserFacingError
    from unmask.converter import parity

    monkeypatch.setattr(parity, "WEB_ROOT", tmp_path / "web")
    with pytest.raises(UserFacingError, match=r"npm ci --prefix web"):
        parity.browser_predictions(tmp_path, np.zeros((1, 128, 128, 3), np.float32))


def test_missing_node_is_a_clear_error(monkeypatch, tmp_path):
    from unmask import UserFacingError
    from unmask.converter import parity

    monkeypatch.setattr(parity.shutil, "which", lambda name: None)
    with pytest.raises(UserFacingError, match=r"Node.js .* not on PATH.*npm ci --prefix web"):
        parity.browser_predictions(tmp_path, np.zeros((1, 128, 128, 3), np.float32))


def test_wrong_input_shape_is_rejected(tmp_path):
    from unmask.converter import parity

    with pytest.raises(ValueError, match="128, 128, 3"):
        parity.browser_predictions(tmp_path, np.zeros((1, 224, 224, 3), np.float32))


# ---------------------------------------------------------------------------------------------------------
# `unmask export` runs the check (the conversion itself is the session's; only the wiring is tested here)


@pytest.fixture
def export_command(exported_model, monkeypatch, tmp_path):
    """`run_export` with a copy of the run, whose conversion copies the session's export instead of redoing it."""
    import argparse

    from unmask.converter import commands, export

    run_dir = tmp_path / "run"
    shutil.copytree(exported_model.run_dir, run_dir)

    def fake_export(run, out, version=None, check=None):
        staged = tmp_path / "staged"
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(exported_model.model_dir, staged)
        if check:
            check(staged)
        shutil.copytree(staged, out)
        return exported_model.metadata

    monkeypatch.setattr(export, "export_model", fake_export)

    def run(**options):
        args = argparse.Namespace(run=run_dir, out=tmp_path / "model", version=None, skip_parity=False)
        for name, value in options.items():
            setattr(args, name, value)
        return commands.run_export(args)

    return run_dir, run


@pytest.mark.slow
def test_export_command_checks_parity_on_the_test_split(export_command, tmp_path, capsys):
    from unmask.training.data import DEEPFAKE, REAL, Sample
    from unmask.training.run_folder import RunFolder

    run_dir, run_export = export_command
    (tmp_path / "split").mkdir()
    files = _synthetic_files(tmp_path / "split")[:5]
    labels = [REAL, DEEPFAKE, REAL, DEEPFAKE, REAL]
    RunFolder(run_dir).write_split(
        {"train": [], "val": [], "test": [Sample(f, label) for f, label in zip(files, labels, strict=True)]}
    )

    assert run_export() == 0
    out = capsys.readouterr().out
    assert "parity passed on 5 images" in out and "images: the run's test split" in out, out
    assert "max |diff| probability" in out


@pytest.mark.slow
@pytest.mark.parametrize("split", ["none", "unreadable"])
def test_export_command_falls_back_to_synthetic_images(export_command, tmp_path, capsys, split):
    from unmask.training.data import DEEPFAKE, REAL, Sample
    from unmask.training.run_folder import RunFolder

    run_dir, run_export = export_command
    assert not RunFolder(run_dir).split_file.exists()
    if split == "unreadable":  # files that exist but are no images
        not_images = [tmp_path / "a.png", tmp_path / "b.jpg"]
        for file in not_images:
            file.write_text("not an image")
        RunFolder(run_dir).write_split({"test": [Sample(not_images[0], REAL), Sample(not_images[1], DEEPFAKE)]})
    assert run_export() == 0
    out = capsys.readouterr().out
    assert "parity passed on 4 images" in out and "images: synthetic" in out, out


@pytest.mark.slow
def test_export_command_fails_on_a_mismatched_model_unless_skipped(export_command, caplog):
    from unmask import UserFacingError
    from unmask.training.run_folder import RunFolder

    run_dir, run_export = export_command
    folder = RunFolder(run_dir)
    run = folder.read_run()
    run["calibration"]["offset"] = 0.0
    folder.write_run(run)

    with pytest.raises(UserFacingError, match="does not match"):
        run_export()
    assert not (run_dir.parent / "model").exists(), "a model that failed the check replaced the served one"
    assert run_export(skip_parity=True, out=run_dir.parent / "model-unchecked") == 0
    assert "parity check skipped" in caplog.text


def test_export_command_has_a_skip_parity_flag():
    import argparse

    from unmask.converter.commands import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    assert parser.parse_args(["export", "--run", "r"]).skip_parity is False
    assert parser.parse_args(["export", "--run", "r", "--skip-parity"]).skip_parity is True

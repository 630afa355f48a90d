"""training.report: the files exist, hold the right numbers, and never contain NaN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unmask.training.metrics import binary_metrics
from unmask.training.report import FolderResult, slugify, summary_line, write_report

MODEL_INFO = {"name": "unmasknet", "parameters": 123456, "nested": {"a": 1}}
HISTORY = {
    "loss": [0.69, 0.40, 0.25],
    "val_loss": [0.68, 0.45, float("nan"), None],  # a diverged epoch must not break the report
    "accuracy": [0.55, 0.82, 0.91],
    "val_accuracy": [0.56, 0.80, 0.88],
    "auc": [0.6, 0.9, 0.96],
}


UNREADABLE = [{"path": "bad.jpg", "reason": "cannot decode image"}]


def folder(
    labels: list[int], probabilities: list[float], threshold: float = 0.5, skipped: list | None = None
) -> FolderResult:
    return {
        "labels": np.array(labels),
        "probabilities": np.array(probabilities),
        "paths": [f"img{i:03d}.png" for i in range(len(labels))],
        "skipped": skipped or [],
        "threshold": threshold,
    }


def strict_json(path: Path) -> dict:
    """Parse JSON, failing on NaN/Infinity, which Python's json accepts by default."""

    def reject(constant: str) -> None:
        raise AssertionError(f"{path.name} contains {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict[str, FolderResult]]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    probabilities = np.clip(0.45 * labels + 0.55 * rng.random(300), 0, 1)
    results = {
        "ffhq-stylegan2/test": folder(labels.tolist(), probabilities.tolist(), skipped=UNREADABLE),
        "new generator fakes": folder([1] * 6, [0.9, 0.8, 0.3, 0.95, 0.1, 0.7], threshold=0.6),
    }
    out = tmp_path_factory.mktemp("report")
    report = write_report(out, results, HISTORY, MODEL_INFO)
    return out, report, results


def test_report_json_holds_the_metrics(written: tuple[Path, dict, dict[str, FolderResult]]) -> None:
    out, report, results = written
    on_disk = strict_json(out / "report.json")
    assert on_disk == report
    assert on_disk["model"] == MODEL_INFO
    assert list(on_disk["folders"]) == list(results)
    for name, result in results.items():
        expected = binary_metrics(result["labels"], result["probabilities"], result["threshold"])
        assert on_disk["folders"][name]["metrics"] == expected  # JSON floats round-trip exactly
        assert on_disk["folders"][name]["summary"] == summary_line(name, expected)
    assert on_disk["folders"]["ffhq-stylegan2/test"]["skipped"] == UNREADABLE
    assert on_disk["folders"]["new generator fakes"]["skipped"] == []


def test_most_confident_mistakes(written: tuple[Path, dict, dict[str, FolderResult]]) -> None:
    _, report, results = written
    # Fakes at 0.1 and 0.3 are missed (threshold 0.6); 0.1 is the more confidently wrong.
    assert report["folders"]["new generator fakes"]["most_confident_mistakes"] == [
        {"path": "img004.png", "label": "Deepfake", "probability": 0.1},
        {"path": "img002.png", "label": "Deepfake", "probability": 0.3},
    ]
    mistakes = report["folders"]["ffhq-stylegan2/test"]["most_confident_mistakes"]
    assert len(mistakes) == 20
    result = results["ffhq-stylegan2/test"]
    by_path = dict(zip(result["paths"], zip(result["labels"], result["probabilities"], strict=True), strict=True))
    wrongness = []
    for mistake in mistakes:
        label, probability = by_path[mistake["path"]]
        assert mistake["probability"] == probability
        assert mistake["label"] == ("Deepfake" if label == 1 else "Real")
        assert (probability >= 0.5) != (label == 1)
        wrongness.append(probability if label == 0 else 1 - probability)
    assert wrongness == sorted(wrongness, reverse=True)


def test_history_is_kept_with_nan_as_none(written: tuple[Path, dict, dict[str, FolderResult]]) -> None:
    out, report, _ = written
    assert report["history"]["val_loss"] == [0.68, 0.45, None, None]
    assert report["history"]["auc"] == HISTORY["auc"]
    assert report["training_curves"] == "training_curves.png"


def test_plots_exist_and_are_real_images(written: tuple[Path, dict, dict[str, FolderResult]]) -> None:
    out, report, _ = written
    mixed = report["folders"]["ffhq-stylegan2/test"]["plots"]
    assert mixed == {
        "confusion": "ffhq-stylegan2-test-confusion.png",
        "roc": "ffhq-stylegan2-test-roc.png",
        "reliability": "ffhq-stylegan2-test-reliability.png",
        "histogram": "ffhq-stylegan2-test-histogram.png",
    }
    single = report["folders"]["new generator fakes"]["plots"]
    assert single["roc"] is None  # one class: no ROC curve, and no crash
    assert not (out / "new-generator-fakes-roc.png").exists()
    images = [p for plots in (mixed, single) for p in plots.values() if p] + ["training_curves.png"]
    for name in images:
        path = out / name
        assert path.stat().st_size > 5_000, name
        with Image.open(path) as image:
            image.verify()
            assert image.format == "PNG" and min(image.size) >= 300, name


def test_markdown_summary(written: tuple[Path, dict, dict[str, FolderResult]]) -> None:
    out, report, _ = written
    markdown = (out / "report.md").read_text(encoding="utf-8")
    metrics = report["folders"]["ffhq-stylegan2/test"]["metrics"]
    row = next(line for line in markdown.splitlines() if line.startswith("| ffhq-stylegan2/test |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells == [
        "ffhq-stylegan2/test",
        "300",
        "1",
        f"{100 * metrics['accuracy']:.1f}%",
        f"{100 * metrics['precision']:.1f}%",
        f"{100 * metrics['recall']:.1f}%",
        f"{100 * metrics['f1']:.1f}%",
        f"{metrics['roc_auc']:.3f}",
        f"{metrics['ece']:.3f}",
        f"{100 * metrics['false_positive_rate']:.1f}%",
    ]
    single_row = next(line for line in markdown.splitlines() if line.startswith("| new generator fakes |"))
    assert single_row.count("n/a") == 2  # AUC and FPR
    for plots in (f["plots"] for f in report["folders"].values()):
        for name in filter(None, plots.values()):
            assert f"({name})" in markdown
    assert "(training_curves.png)" in markdown
    assert "- name: unmasknet" in markdown and "nested" not in markdown
    assert report["folders"]["new generator fakes"]["summary"] in markdown


def test_summary_line_formats() -> None:
    m = binary_metrics(np.array([0, 0, 0, 0, 1, 1, 1, 1]), np.array([0.1, 0.2, 0.3, 0.8, 0.1, 0.4, 0.6, 0.9]))
    assert summary_line("crossval-stylegan", m) == (
        f"crossval-stylegan: n=8 acc=62.5% AUC={m['roc_auc']:.3f} FPR=25.0% ECE={m['ece']:.3f}"
    )
    fakes = binary_metrics(np.ones(4, dtype=int), np.array([0.9, 0.8, 0.7, 0.1]))
    assert summary_line("fakes", fakes) == (f"fakes: n=4 (deepfakes only) detection rate=75.0% ECE={fakes['ece']:.3f}")
    reals = binary_metrics(np.zeros(4, dtype=int), np.array([0.9, 0.1, 0.2, 0.1]))
    assert summary_line("reals", reals) == (f"reals: n=4 (real only) false-positive rate=25.0% ECE={reals['ece']:.3f}")
    assert "None" not in summary_line("reals", reals) + summary_line("fakes", fakes)


def test_without_history_and_with_clashing_names(tmp_path: Path) -> None:
    results = {"a/b": folder([0, 1], [0.2, 0.7]), "a-b": folder([0, 1], [0.6, 0.4]), "..": folder([0], [0])}
    report = write_report(tmp_path / "new" / "dir", results, None, {})
    out = tmp_path / "new" / "dir"
    assert report["history"] is None and report["training_curves"] is None
    assert not (out / "training_curves.png").exists()
    confusion = [f["plots"]["confusion"] for f in report["folders"].values()]
    assert confusion == ["a-b-confusion.png", "a-b-2-confusion.png", "folder-confusion.png"]
    assert all((out / name).is_file() for name in confusion)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]  # nothing escaped the output folder
    strict_json(out / "report.json")


def test_slugify() -> None:
    assert slugify("ffhq-stylegan2/test") == "ffhq-stylegan2-test"
    assert slugify("Crossval StyleGAN (JPEG q75)") == "crossval-stylegan-jpeg-q75"
    assert slugify("Ångström") == "angstrom"
    assert slugify("///") == "folder"


def test_invalid_results_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no data folders"):
        write_report(tmp_path, {}, None, {})
    with pytest.raises(ValueError, match="^empty-folder: .*empty"):
        write_report(tmp_path, {"empty-folder": folder([], [])}, None, {})
    mismatched = folder([0, 1], [0.2, 0.8]) | {"paths": ["only-one.png"]}
    with pytest.raises(ValueError, match="^short: 1 paths for 2"):
        write_report(tmp_path, {"short": mismatched}, None, {})


def test_nan_in_report_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        write_report(tmp_path, {"ok": folder([0, 1], [0.2, 0.8])}, None, {"scale": float("nan")})

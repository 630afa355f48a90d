"""`unmask evaluate --leave-one-source-out` and `--compare`, end to end on tiny generated sources.

Three sources: one with both classes, one real only, one deepfake only. The point is the table and the run
folders (one model per held-out group, one per architecture), not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("keras")

from conftest import write_toy_dataset  # noqa: E402

from unmask.cli import main  # noqa: E402
from unmask.training.run_folder import RunFolder  # noqa: E402

TINY_RECIPE = ["--epochs", "1", "--epoch-size", "16", "--batch-size", "8"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("sources")
    return [
        write_toy_dataset(base / "both", seed=0, count=14),
        write_toy_dataset(base / "camera", seed=1, classes=("Real",), count=14),
        write_toy_dataset(base / "generator", seed=2, classes=("Deepfake",), count=14),
    ]


def _arguments(sources: list[Path]) -> list[str]:
    return [argument for source in sources for argument in ("--data", str(source))]


@pytest.mark.slow
def test_leave_one_source_out_scores_each_group_with_a_model_that_never_saw_it(sources, tmp_path) -> None:
    out = tmp_path / "loso"
    assert (
        main(
            [
                "evaluate",
                "--leave-one-source-out",
                *_arguments(sources),
                "--eval-data",
                str(sources[0]),
                "--out",
                str(out),
                *TINY_RECIPE,
            ]
        )
        == 0
    )
    rows = {row["held_out"]: row for row in json.loads((out / "loso.json").read_text())["rows"]}
    assert set(rows) == {"both/Real", "both/Deepfake", "camera/Real", "generator/Deepfake"}
    assert rows["camera/Real"]["kind"] == "real source" and rows["generator/Deepfake"]["kind"] == "generator"
    assert rows["camera/Real"]["count"] == 14
    for group, row in rows.items():
        run = RunFolder(out / group.lower().replace("/", "-")).read_run()
        assert run["data"]["excluded_groups"] == [group]
        assert group not in run["data"]["group_counts"]["train"]
        assert 0.0 <= row["flagged"] <= 1.0 and 0.0 <= row["auc_vs_test_split"] <= 1.0
    table = (out / "loso.md").read_text()
    assert all(f"| {group} |" in table for group in rows)


def test_leaving_out_the_only_real_source_is_reported_not_trained(tmp_path) -> None:
    only = write_toy_dataset(tmp_path / "only", seed=3, count=10)
    out = tmp_path / "loso"
    assert main(["evaluate", "--leave-one-source-out", "--data", str(only), "--out", str(out), *TINY_RECIPE]) == 0
    rows = json.loads((out / "loso.json").read_text())["rows"]
    assert [row["skipped"] for row in rows] == ["the only deepfake source", "the only real source"]


@pytest.mark.slow
def test_compare_trains_each_architecture_on_the_same_split(sources, tmp_path) -> None:
    out = tmp_path / "compare"
    assert (
        main(
            [
                "evaluate",
                "--compare",
                "npr",
                "--compare",
                "unmasknet",
                *_arguments(sources),
                "--out",
                str(out),
                *TINY_RECIPE,
            ]
        )
        == 0
    )
    rows = json.loads((out / "compare.json").read_text())["rows"]
    assert [row["architecture"] for row in rows] == ["npr", "unmasknet"]
    splits = [
        [(s.path.resolve(), s.label) for s in RunFolder(out / arch).read_split("test")] for arch in ("npr", "unmasknet")
    ]
    assert splits[0] == splits[1]
    assert {"both/test", "camera/test", "generator/test", "test split, all sources (JPEG q75)"} <= set(
        rows[0]["folders"]
    )
    assert "| generator/test |" in (out / "compare.md").read_text()

"""The model card is the contract's only carrier: the shipped card is exactly what `unmask export` makes from
the shipped run, the verdict log's schema beside it is generated from the same definition, and `export`
refuses a model the page could not run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unmask import UserFacingError
from unmask.contract import CARD_FILE, INPUT, LOG_SCHEMA_FILE, POLICY, verdict_log_schema

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_RUN = REPO_ROOT / "models" / "npr"
SHIPPED_MODEL = REPO_ROOT / "web" / "model"
# Set by the clock at export time: the only part of the card that differs between two exports.
VOLATILE_KEYS = ("created",)


@pytest.fixture(scope="module")
def re_exported(tmp_path_factory, train_extra: None) -> Path:
    """The shipped run exported again (same version string), as `unmask export` would write it."""
    from unmask.converter.export import export_model

    shipped = json.loads((SHIPPED_MODEL / CARD_FILE).read_text())
    out = tmp_path_factory.mktemp("golden") / "model"
    export_model(SHIPPED_RUN, out, version=shipped["version"])
    return out


def _without_volatile(card: dict) -> dict:
    return {key: value for key, value in card.items() if key not in VOLATILE_KEYS}


def test_the_shipped_card_is_what_export_makes_from_the_shipped_run(re_exported: Path) -> None:
    shipped = json.loads((SHIPPED_MODEL / CARD_FILE).read_text())
    exported = json.loads((re_exported / CARD_FILE).read_text())
    assert _without_volatile(shipped) == _without_volatile(exported), (
        "web/model/metadata.json differs from a fresh export of models/npr: re-export it with "
        "`unmask export --run models/npr --version <its version>` instead of editing it by hand"
    )


def test_the_shipped_model_files_are_what_export_makes(re_exported: Path) -> None:
    shipped = {path.name: path.read_bytes() for path in SHIPPED_MODEL.iterdir() if path.name != CARD_FILE}
    exported = {path.name: path.read_bytes() for path in re_exported.iterdir() if path.name != CARD_FILE}
    assert shipped.keys() == exported.keys()
    assert [name for name in shipped if shipped[name] != exported[name]] == []


def test_the_shipped_log_schema_is_generated_from_the_contract() -> None:
    card = json.loads((SHIPPED_MODEL / CARD_FILE).read_text())
    schema = json.loads((SHIPPED_MODEL / card["verdict_log_schema"]).read_text())
    assert card["verdict_log_schema"] == LOG_SCHEMA_FILE
    assert schema == verdict_log_schema(POLICY)


def _run_of(model, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    model.save(run_dir / "model.keras")
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "architecture": "tiny",
                "input_shape": list(model.input.shape[1:]),
                "calibration": {"scale": 1.0, "offset": 0.0},
            }
        )
    )
    return run_dir


def _tiny_model(side: int, evidence: bool):
    """A model shaped like the real ones (an `evidence` map whose mean is the `logit`), or without the map."""
    import keras
    from keras import layers

    image = keras.Input((side, side, INPUT.channels), name="image")
    features = layers.Conv2D(4, 8, strides=8, name="features")(image)
    if evidence:
        regions = layers.Conv2D(1, 1, name="evidence")(features)
        logit = layers.GlobalAveragePooling2D(name="logit")(regions)
    else:
        logit = layers.Dense(1, name="logit")(layers.GlobalAveragePooling2D()(features))
    return keras.Model(image, logit)


def _export_refused(model, tmp_path: Path) -> str:
    from unmask.converter.export import export_model

    served = tmp_path / "served"
    served.mkdir()
    (served / CARD_FILE).write_text("{}")
    with pytest.raises(UserFacingError) as refused:
        export_model(_run_of(model, tmp_path), served, version="refused")
    assert [path.name for path in served.iterdir()] == [CARD_FILE], "a refused export must not touch the served model"
    return str(refused.value)


def test_export_refuses_a_model_without_an_evidence_map(tmp_path: Path, train_extra: None) -> None:
    message = _export_refused(_tiny_model(INPUT.size, evidence=False), tmp_path)
    assert "the web page cannot run this model" in message and "no 'evidence' output" in message


def test_export_refuses_a_model_of_another_input_size(tmp_path: Path, train_extra: None) -> None:
    message = _export_refused(_tiny_model(INPUT.size * 2, evidence=True), tmp_path)
    assert "the web page cannot run this model" in message
    assert f"the page makes {INPUT.shape}" in message


def test_the_training_summary_is_made_from_the_run_counts(train_extra: None) -> None:
    from unmask.converter.export import training_summary

    data = {
        "counts": {"train": {"Real": 3, "Deepfake": 2}, "val": {"Real": 1, "Deepfake": 1}},
        "group_counts": {"train": {"a/Real": 3, "b/Deepfake": 2}, "val": {"a/Real": 1, "b/Deepfake": 1}},
        "description": "prose the page must not parse: it is not read",
    }
    assert training_summary(data) == "4 real and 3 generated or swapped faces from a, b"

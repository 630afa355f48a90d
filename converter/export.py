"""Export a trained Keras model to the TensorFlow.js graph format that the browser runs.

Keras 3 models go through a TensorFlow SavedModel (`model.export`) and then the real `tensorflowjs`
converter with `--input_format=tf_saved_model`. (The Keras-3 "layers" format converts too, but tfjs 4.22
then refuses to load it.) The exported model is the *calibrated* one: its probability output already
includes the calibration fitted on the validation split, so the number the page shows is the calibrated one.

Beside the model go `metadata.json`, the model card (unmask/contract.py: version, input and preprocessing,
output names, the verdict policy, class meaning, training data and licences, headline metrics and the SHA-256
of every file), and `verdict-log.schema.json`, the JSON Schema of the verdict log under that policy.
A model the page cannot run (another input shape, no evidence map) is refused before it is converted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unmask import UserFacingError
from unmask.contract import (
    CARD_FILE,
    EVIDENCE_OUTPUT,
    INPUT,
    LOG_SCHEMA_FILE,
    POLICY,
    PROBABILITY_OUTPUT,
    ContractError,
    ModelCard,
    check_runnable,
    verdict_log_schema,
)
from unmask.training.faces import detector_version
from unmask.training.metrics import CLASS_NAMES
from unmask.training.preprocessing import PREPROCESSING_SPEC
from unmask.training.run_folder import RunFolder


def export_model(
    run_dir: Path, out_dir: Path, version: str | None = None, check: Callable[[Path], None] | None = None
) -> ModelCard:
    """Convert the model of a training run (`run_dir/model.keras`, `run_dir/run.json`) into `out_dir`.

    Returns the metadata written beside it. `check(converted_dir)` (e.g. the parity check) runs on the
    converted files before they replace `out_dir`: a failed conversion or check never touches the served model.
    """
    from unmask.training.calibration import Calibration
    from unmask.training.models import calibrated

    folder = RunFolder(run_dir)
    run = folder.read_run()
    model = folder.load_model()
    browser_model = calibrated(model, Calibration.of_run(run))
    refuse_unrunnable(browser_model, run_dir)

    with tempfile.TemporaryDirectory(prefix="unmask-export-") as scratch:
        saved_model = Path(scratch) / "saved_model"
        converted = Path(scratch) / "tfjs"
        browser_model.export(str(saved_model), format="tf_saved_model", verbose=False)
        _run_tensorflowjs_converter(saved_model, converted)
        _flatten_fused_conv_biases(converted / "model.json")
        (converted / LOG_SCHEMA_FILE).write_text(json.dumps(verdict_log_schema(POLICY), indent=2) + "\n")
        metadata = _metadata(run, run_dir, converted, version)
        (converted / CARD_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        if check:
            check(converted)
        _replace_dir(converted, out_dir)
    return metadata


def refuse_unrunnable(browser_model: Any, run_dir: Path) -> None:
    """UserFacingError, before any conversion, when the page could not run this model."""
    outputs = browser_model.output if isinstance(browser_model.output, dict) else {}
    try:
        check_runnable(
            [1, *browser_model.input.shape[1:]], {name: [1, *tensor.shape[1:]] for name, tensor in outputs.items()}
        )
    except ContractError as error:
        raise UserFacingError(f"{run_dir}: the web page cannot run this model: {error}") from None


def _run_tensorflowjs_converter(saved_model: Path, out_dir: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "tensorflowjs.converters.converter",
        "--input_format=tf_saved_model",
        "--output_format=tfjs_graph_model",
        "--signature_name=serving_default",
        "--saved_model_tags=serve",
        str(saved_model),
        str(out_dir),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise UserFacingError(f"tensorflowjs converter failed:\n{result.stderr[-2000:]}")


# Ops whose fused bias the tfjs wasm backend accepts only as rank 1 ("FusedConv2D only supports rank-1 bias").
_FUSED_CONV_OPS = ("_FusedConv2D", "FusedDepthwiseConv2dNative")


def _flatten_fused_conv_biases(model_json: Path) -> None:
    """Give every fused convolution bias the rank-1 shape [C] that the wasm backend requires.

    Keras 3 adds a convolution bias as `x + reshape(bias, [1, 1, 1, C])`, and the converter fuses that
    constant into `_FusedConv2D` as it is, rank 4. The cpu and webgl backends broadcast it; the wasm backend
    (the page's default) refuses the model. The weight bytes are the same either way: only the shape changes.
    A zero bias (an untrained model) is folded away by the converter, so only trained models showed this.
    The file is written back with sorted keys: the converter's key order varies from run to run, and the
    card's SHA-256 of model.json must not (the golden test re-exports the shipped model and compares).
    """
    topology = json.loads(model_json.read_text())
    biases = {
        node["input"][2].split(":")[0]
        for node in topology["modelTopology"].get("node", [])
        if node.get("op") in _FUSED_CONV_OPS and len(node.get("input", [])) > 2
    }
    for group in topology.get("weightsManifest", []):
        for weight in group["weights"]:
            shape = weight.get("shape", [])
            if weight["name"] in biases and len(shape) > 1 and all(size == 1 for size in shape[:-1]):
                weight["shape"] = [shape[-1]]
    model_json.write_text(json.dumps(topology, sort_keys=True))


def _metadata(run: dict[str, Any], run_dir: Path, converted: Path, version: str | None) -> ModelCard:
    model_json = _read_json(converted / "model.json")
    signature = model_json.get("signature", {})
    inputs = {name: spec["name"] for name, spec in signature.get("inputs", {}).items()}
    outputs = {
        name: {"node": spec["name"], "shape": [1] + [int(d["size"]) for d in spec["tensorShape"]["dim"][1:]]}
        for name, spec in signature.get("outputs", {}).items()
    }
    created = datetime.now(UTC)
    report = _report_metrics(run_dir)
    return {
        "name": "unmask",
        "version": version or f"{run['architecture']}-{created:%Y%m%d-%H%M%S}",
        "created": created.isoformat(timespec="seconds"),
        "architecture": run["architecture"],
        "format": "tfjs_graph_model",
        "input": {
            "name": inputs.get("image", "image"),
            "shape": INPUT.shape,
            "dtype": INPUT.dtype,
            "range": list(INPUT.value_range),
        },
        "outputs": {
            PROBABILITY_OUTPUT: {
                **outputs[PROBABILITY_OUTPUT],
                "meaning": "calibrated probability that the image is a deepfake; the model judges the input as "
                "given and moved one pixel right, down and both, and averages the four logits (training/models.py)",
            },
            EVIDENCE_OUTPUT: {
                **outputs[EVIDENCE_OUTPUT],
                "meaning": "per-region logit (class activation map): > 0 pushes towards "
                "deepfake, < 0 towards real; the probability is "
                "sigmoid(mean of this map); the mean of the four framings' maps",
            },
        },
        "preprocessing": PREPROCESSING_SPEC,
        "face_detector": face_detector_card(),
        **POLICY.card_fields(),
        "verdict_log_schema": LOG_SCHEMA_FILE,
        "classes": {str(label): name for label, name in enumerate(CLASS_NAMES)},
        "calibration": run.get("calibration", {}),
        "training": run.get("training", {}),
        "training_data": {key: value for key, value in run.get("data", {}).items() if key != "skipped"},
        "training_summary": training_summary(run.get("data", {})),
        "metrics": {**run.get("metrics", {}), **report},
        "operating_point": operating_point_card(run, report),
        "limitations": LIMITATIONS,
        "files": {path.name: _sha256(path) for path in sorted(converted.iterdir()) if path.is_file()},
    }


def training_summary(data: dict[str, Any]) -> str:
    """The training data in a few words, for the page, from the run's counts (never parsed from prose)."""
    totals = {name: sum(split.get(name, 0) for split in data.get("counts", {}).values()) for name in CLASS_NAMES}
    sources = list(
        dict.fromkeys(group.split("/")[0] for split in data.get("group_counts", {}).values() for group in split)
    )
    if not any(totals.values()):
        return "described in the model card"
    real, fake = (totals[name] for name in CLASS_NAMES)
    return f"{real} real and {fake} generated or swapped faces" + (f" from {', '.join(sources)}" if sources else "")


def face_detector_card() -> dict[str, str]:
    """What finds the faces the model judges, in training and in the browser alike."""
    return {
        "version": detector_version(),
        "model": "MediaPipe BlazeFace, back-camera (256x256) model, converted to TensorFlow.js",
        "weights_licence": "Apache-2.0 (Google MediaPipe)",
        "package": "@vladmandic/human (MIT), models/blazeface.json, installed from web/package-lock.json",
        "definition": "web/js/faces.js (also run by training through Node)",
        "crop": "each face's box found again in a window of its own (2.5 times the box, from the picture's own "
        "pixels), then a square 1.8 times that box, centred on it, moved inside the picture; faces whose "
        f"crop is under min_face_crop_px ({POLICY.min_face_crop_px} px) are not judged",
    }


LIMITATIONS = [
    "Knows only the real sources and generators of its training data (see training_data): other generators, "
    "diffusion models, face swaps and edited photos may be missed.",
    "Judges faces: on images that are not a face photo the probability means little.",
    f"A probability is evidence, not proof: near {POLICY.threshold:g} the model does not know, and even far "
    "from it the error rates in `metrics` apply, and they are higher on sources unlike the training data.",
    "The model inherits the licence of its training data (training_data.licence).",
]


def operating_point_card(run: dict[str, Any], metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Where the threshold was put and what it means on each source's test faces, in words a page can show:
    the false-positive rate per real source and the detection rate per generator (each folder of the test
    split, "<source>/test", and each folder evaluated beside it)."""
    calibration = run.get("calibration", {})
    target = calibration.get("target_fpr")
    card: dict[str, Any] = {
        "rule": f"probability >= {POLICY.threshold:g} means deepfake",
        "target_false_positive_rate": target,
        "how": (
            f"{POLICY.threshold:g} was set where at most {target:.0%} of the validation real faces of every real source "
            "it was trained on are flagged"
            if target is not None
            else "Platt scaling on the validation split"
        ),
        "real_sources": [],
        "generators": [],
    }
    for folder, m in metrics.items():
        if "(" in folder or folder.startswith("test split"):
            continue  # re-encoded copies and the pooled split say nothing per source
        source = folder.removesuffix("/test")
        positives, negatives = m["positives"], m["count"] - m["positives"]
        if m.get("false_positive_rate") is not None:
            card["real_sources"].append(
                {
                    "source": source,
                    "images": negatives,
                    "false_positive_rate": m["false_positive_rate"],
                    "text": f"Flags {_percent(m['false_positive_rate'])} of the real photos of {source} "
                    f"({negatives} faces it never trained on)",
                }
            )
        if m.get("recall") is not None:
            card["generators"].append(
                {
                    "source": source,
                    "images": positives,
                    "detection_rate": m["recall"],
                    "text": f"Catches {_percent(m['recall'])} of the generated or swapped faces of {source} "
                    f"({positives} faces it never trained on)",
                }
            )
    return card


def _percent(rate: float) -> str:
    return f"{100 * rate:.0f}%" if rate >= 0.1 else f"{100 * rate:.1f}%"


def _report_metrics(run_dir: Path) -> dict[str, Any]:
    """Headline numbers per evaluated folder from the run's report, if `unmask evaluate` wrote one."""
    report = RunFolder(run_dir).read_report()
    if report is None:
        return {}
    folders = report.get("folders", {})
    keys = ("count", "positives", "accuracy", "roc_auc", "precision", "recall", "false_positive_rate", "ece")
    return {name: {key: folder["metrics"].get(key) for key in keys} for name, folder in folders.items()}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserFacingError(f"{path} not found") from None
    except json.JSONDecodeError as error:
        raise UserFacingError(f"{path} is not valid JSON: {error}") from None


def _replace_dir(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    backup = target.with_name(target.name + ".old")
    shutil.rmtree(backup, ignore_errors=True)
    if target.exists():
        target.rename(backup)
    staging.rename(target)
    shutil.rmtree(backup, ignore_errors=True)

"""Studies that train several models: leave-one-source-out, and architectures compared on one split.

Leave one source out is our honest estimate of how a model does on what it has never seen: for each real
source and each generator (each (folder, class) group of the training folders), a model is trained on
everything else, its operating point is set on the real sources it saw, and it is scored on every file of
the group it never saw: the false-positive rate for a real source, the detection rate for a generator, both
at probability 0.5, and the AUC of that group against the other class of its own test split.

Both studies write `<name>.json` (everything) and `<name>.md` (the table) into their output folder, beside one
run folder per model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from unmask.contract import POLICY
from unmask.training.data import CLASS_NAMES, DEEPFAKE, DecodedImages, decode_images, find_sources
from unmask.training.evaluate import evaluate, load_browser_twin, predict
from unmask.training.faces import face_crops
from unmask.training.metrics import binary_metrics
from unmask.training.report import decimal, percent, slugify
from unmask.training.run_folder import RunFolder
from unmask.training.train import TrainConfig, train


def leave_one_source_out(
    data_dirs: list[Path], eval_dirs: list[Path], out_dir: Path, config: TrainConfig
) -> dict[str, Any]:
    """Train one model per (source, class) group without it, score it on that group; write loso.json/.md."""
    samples = find_sources(data_dirs)
    groups = sorted({s.group for s in samples})
    extra_samples = {Path(d).name: find_sources([d]) for d in eval_dirs}
    # Every picture is judged on its face crop, as the browser judges it.
    crops, _ = face_crops(s.path for s in [*samples, *(s for e in extra_samples.values() for s in e)])
    extra = {name: decode_images(found, for_training=False, crops=crops) for name, found in extra_samples.items()}
    rows = []
    for group in groups:
        held_out = [s for s in samples if s.group == group]
        label = held_out[0].label
        if all(s.label != label for s in samples if s.group != group):
            rows.append({"held_out": group, "skipped": f"the only {CLASS_NAMES[label].lower()} source"})
        else:
            run_dir = out_dir / slugify(group)
            run = train(data_dirs, run_dir, config, exclude_groups=(group,))
            model, _ = load_browser_twin(run_dir)
            unseen = decode_images(held_out, for_training=False, crops=crops)
            test = decode_images(RunFolder(run_dir).read_split("test"), for_training=False, crops=crops)
            rows.append(_held_out_row(group, label, model, unseen, test, extra, run))
        _write_study(out_dir, "loso", _loso_markdown(rows, config), {"config": _config(config), "rows": rows})
    return {"rows": rows}


def _held_out_row(
    group: str,
    label: int,
    model,
    unseen: DecodedImages,
    test: DecodedImages,
    extra: dict[str, DecodedImages],
    run: dict[str, Any],
) -> dict[str, Any]:
    scores = predict(model, unseen.images)
    test_scores = predict(model, test.images)
    other = test_scores[test.labels != label]
    flagged = float(np.mean(scores >= POLICY.threshold))
    ranking = binary_metrics(
        np.concatenate([np.full(len(scores), label), test.labels[test.labels != label]]),
        np.concatenate([scores, other]),
    )
    row = {
        "held_out": group,
        "kind": "generator" if label == DEEPFAKE else "real source",
        "count": len(scores),
        "flagged": flagged,
        "auc_vs_test_split": ranking["roc_auc"],
        "seen_test_split_auc": binary_metrics(test.labels, test_scores)["roc_auc"],
        "training_seconds": run["training"]["seconds"],
    }
    for name, decoded in extra.items():
        row[name] = _headline(binary_metrics(decoded.labels, predict(model, decoded.images)))
    return row


def compare_architectures(
    data_dirs: list[Path], eval_dirs: list[Path], out_dir: Path, configs: list[TrainConfig]
) -> dict[str, Any]:
    """Train each architecture on the same split (same seed) and evaluate each in full; write compare.json/.md."""
    rows = []
    for config in configs:
        run_dir = out_dir / config.architecture
        run = train(data_dirs, run_dir, config)
        report = evaluate(run_dir, eval_dirs, RunFolder(run_dir).report_dir)
        rows.append(
            {
                "architecture": config.architecture,
                "parameters": run["parameters"],
                "training_seconds": run["training"]["seconds"],
                "epochs_run": run["training"]["epochs_run"],
                "folders": {name: _headline(folder["metrics"]) for name, folder in report["folders"].items()},
            }
        )
        _write_study(
            out_dir, "compare", _compare_markdown(rows), {"configs": [_config(c) for c in configs], "rows": rows}
        )
    return {"rows": rows}


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    return {key: metrics[key] for key in ("count", "accuracy", "roc_auc", "recall", "false_positive_rate")}


def _config(config: TrainConfig) -> dict[str, Any]:
    return {
        key: getattr(config, key)
        for key in ("architecture", "epochs", "epoch_size", "batch_size", "seed", "target_fpr", "aligned_fakes")
    }


def _write_study(out_dir: Path, name: str, markdown: str, record: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    (out_dir / f"{name}.md").write_text(markdown)


def _loso_markdown(rows: list[dict[str, Any]], config: TrainConfig) -> str:
    extra = sorted({key for row in rows for key, value in row.items() if isinstance(value, dict)})
    lines = [
        "# Leave one source out",
        "",
        f"Each row: a model ({config.architecture}, {config.epochs} epochs of "
        f"{config.epoch_size or 'all'} images{', plus content-aligned pseudo-fakes' if config.aligned_fakes else ''}) "
        "trained without that source and class, its operating point "
        f"set at {config.target_fpr:.0%} false positives on the real sources it saw, scored on every file of "
        "the source it never saw. Flagged at 0.5: the detection rate for a generator, the false-positive "
        "rate for a real source. AUC: that source against the other class of the test split.",
        "",
        "| held out | kind | images | flagged at 0.5 | AUC vs test split | AUC on seen test split | "
        + " | ".join(f"{name} AUC / FPR / detection" for name in extra)
        + " |",
        "|---|---|---:|---:|---:|---:|" + "---:|" * len(extra),
    ]
    for row in rows:
        if "skipped" in row:
            lines.append(f"| {row['held_out']} | skipped: {row['skipped']} |")
            continue
        cells = [
            row["held_out"],
            row["kind"],
            str(row["count"]),
            percent(row["flagged"]),
            decimal(row["auc_vs_test_split"]),
            decimal(row["seen_test_split_auc"]),
        ]
        cells += [
            " / ".join(
                (decimal(row[name]["roc_auc"]), percent(row[name]["false_positive_rate"]), percent(row[name]["recall"]))
            )
            for name in extra
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _compare_markdown(rows: list[dict[str, Any]]) -> str:
    folders = list(rows[0]["folders"])
    lines = [
        "# Architectures compared on one split",
        "",
        "Per folder: AUC (both classes), false-positive rate (real photos) and detection rate (deepfakes) at "
        "probability 0.5, after each model's operating point was set on the validation real faces.",
        "",
        "| folder | "
        + " | ".join(
            f"{r['architecture']} ({r['parameters']:,} parameters, {r['training_seconds'] / 60:.1f} min)" for r in rows
        )
        + " |",
        "|---|" + "---|" * len(rows),
    ]
    for folder in folders:
        cells = [
            " / ".join(
                (
                    f"AUC {decimal(r['folders'][folder]['roc_auc'])}",
                    f"FPR {percent(r['folders'][folder]['false_positive_rate'])}",
                    f"det. {percent(r['folders'][folder]['recall'])}",
                )
            )
            for r in rows
        ]
        lines.append(f"| {folder} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

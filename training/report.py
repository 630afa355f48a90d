"""The evaluation report: `report.json`, `report.md` and PNG plots, one set per data folder.

`unmask evaluate` scores each data folder and hands the raw results here; this module turns them into:

* `report.json`: everything, machine-readable: the model description, per folder the full
  `training.metrics.binary_metrics` output, the files that could not be read (with the reason), the
  most confident mistakes (the images worth looking at first), and the training history if known;
* `report.md`: a short summary for people: one table of headline numbers, then per folder its one-line
  summary and plots;
* per folder a confusion matrix, ROC curve (only when both classes are present), reliability diagram and
  probability histogram, plus `training_curves.png` when a Keras history is given.

Plots use Matplotlib's Agg canvas directly (no pyplot, so no global backend or figure registry to leak), and
Matplotlib is imported only when a plot is drawn. JSON is written with `allow_nan=False`: a NaN in a report
is a bug and must fail loudly rather than produce a file browsers refuse to parse.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from unmask.training.metrics import CLASS_NAMES, binary_metrics

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_MISTAKES = 20
HISTOGRAM_BINS = 20
CLASS_COLOURS = ("tab:blue", "tab:red")  # Real, Deepfake


class SkippedFile(TypedDict):
    path: str
    reason: str


class FolderResult(TypedDict):
    """What the evaluation of one data folder produced: per scored image its label, P(deepfake) and path."""

    labels: np.ndarray
    probabilities: np.ndarray
    paths: list[str]
    skipped: list[SkippedFile]
    threshold: float


def write_report(
    out_dir: Path,
    results: dict[str, FolderResult],
    history: dict[str, list[float | None]] | None,
    model_info: dict[str, Any],
) -> dict[str, Any]:
    """Write report.json, report.md and the plots into `out_dir`; return the report.json content.

    `results` maps a display name (e.g. "crossval-stylegan") to that folder's results; `history` is a Keras
    `History.history` dict or None. Raises ValueError (naming the folder) when a folder's results are
    inconsistent or empty.
    """
    if not results:
        raise ValueError("no data folders to report on")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    slugs = _unique_slugs(list(results))
    report: dict[str, Any] = {
        "model": model_info,
        "folders": {name: _folder_report(out_dir, name, slugs[name], res) for name, res in results.items()},
        "history": None if history is None else _finite_history(history),
        "training_curves": None,
    }
    if history:
        report["training_curves"] = "training_curves.png"
        _plot_training_curves(report["history"], out_dir / report["training_curves"])
    text = json.dumps(report, indent=2, allow_nan=False)
    (out_dir / "report.json").write_text(text + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(_markdown(report), encoding="utf-8")
    return report


def summary_line(name: str, metrics: dict[str, Any]) -> str:
    """One line per folder for the terminal, e.g. `crossval: n=392 acc=91.3% AUC=0.962 FPR=3.1% ECE=0.041`.

    A single-class folder has no accuracy trade-off to speak of, so it shows the one rate that exists:
    the detection rate for a folder of deepfakes, the false-positive rate for a folder of real photos.
    """
    parts = [f"{name}: n={metrics['count']}"]
    if metrics["negatives"] == 0:
        parts += ["(deepfakes only)", f"detection rate={percent(metrics['recall'])}"]
    elif metrics["positives"] == 0:
        parts += ["(real only)", f"false-positive rate={percent(metrics['false_positive_rate'])}"]
    else:
        parts += [
            f"acc={percent(metrics['accuracy'])}",
            f"AUC={decimal(metrics['roc_auc'])}",
            f"FPR={percent(metrics['false_positive_rate'])}",
        ]
    parts.append(f"ECE={decimal(metrics['ece'])}")
    return " ".join(parts)


def slugify(name: str) -> str:
    """A file-name-safe form of a folder name: "ffhq-stylegan2/test" -> "ffhq-stylegan2-test".

    Only [a-z0-9-] survive, so no name can escape the output folder or clash with the fixed file names.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "folder"


def _unique_slugs(names: list[str]) -> dict[str, str]:
    """Slugs per name, numbered when two names slugify alike ("a/b" and "a-b")."""
    slugs: dict[str, str] = {}
    for name in names:
        base = slug = slugify(name)
        number = 2
        while slug in slugs.values():
            slug, number = f"{base}-{number}", number + 1
        slugs[name] = slug
    return slugs


def _folder_report(out_dir: Path, name: str, slug: str, result: FolderResult) -> dict[str, Any]:
    threshold = result["threshold"]
    try:
        metrics = binary_metrics(result["labels"], result["probabilities"], threshold)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from error
    if len(result["paths"]) != metrics["count"]:
        raise ValueError(f"{name}: {len(result['paths'])} paths for {metrics['count']} probabilities")
    # Validated above as (n,) or (n, 1), so flattening is safe.
    labels = np.asarray(result["labels"], dtype=np.int64).reshape(-1)
    probabilities = np.asarray(result["probabilities"], dtype=np.float64).reshape(-1)

    plots = {kind: f"{slug}-{kind}.png" for kind in ("confusion", "roc", "reliability", "histogram")}
    _plot_confusion(metrics, name, out_dir / plots["confusion"])
    if metrics["roc_curve"] is None:
        plots["roc"] = None  # only one class: there is no ranking to draw
    else:
        _plot_roc(metrics, name, out_dir / plots["roc"])
    _plot_reliability(metrics, name, out_dir / plots["reliability"])
    _plot_histogram(labels, probabilities, threshold, name, out_dir / plots["histogram"])
    return {
        "summary": summary_line(name, metrics),
        "metrics": metrics,
        "skipped": [{"path": str(item["path"]), "reason": str(item["reason"])} for item in result["skipped"]],
        "most_confident_mistakes": _confident_mistakes(labels, probabilities, result["paths"], threshold),
        "plots": plots,
    }


def _confident_mistakes(
    labels: np.ndarray, probabilities: np.ndarray, paths: list[str], threshold: float
) -> list[dict[str, Any]]:
    """Up to MAX_MISTAKES misclassified images, the most confidently wrong first."""
    flagged = probabilities >= threshold
    wrong = np.flatnonzero(flagged != (labels == 1))
    # Confidence in the wrong answer: P(deepfake) for a false alarm, P(real) for a missed deepfake.
    wrong_confidence = np.where(flagged[wrong], probabilities[wrong], 1.0 - probabilities[wrong])
    worst = wrong[np.argsort(-wrong_confidence, kind="stable")][:MAX_MISTAKES]
    return [
        {"path": str(paths[i]), "label": CLASS_NAMES[labels[i]], "probability": float(probabilities[i])} for i in worst
    ]


def _finite_history(history: dict[str, list[float | None]]) -> dict[str, list[float | None]]:
    """Keras history as plain floats; a diverged epoch's NaN/inf loss becomes None (JSON has no NaN).

    None is accepted too, as a history read back from an earlier report or run.json may already hold it.
    """
    return {
        key: [None if value is None or not math.isfinite(value) else float(value) for value in values]
        for key, values in history.items()
    }


# --- Markdown ---------------------------------------------------------------------------------------------


def _markdown(report: dict[str, Any]) -> str:
    model_lines = [
        f"- {key}: {value}" for key, value in report["model"].items() if isinstance(value, (str, int, float))
    ]
    lines = ["# Evaluation report", "", *model_lines, ""]
    lines += [
        "| Folder | Images | Skipped | Accuracy | Precision | Recall | F1 | AUC | ECE | FPR |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, folder in report["folders"].items():
        m = folder["metrics"]
        cells = [
            name.replace("|", "\\|"),
            str(m["count"]),
            str(len(folder["skipped"])),
            *(percent(m[key]) for key in ("accuracy", "precision", "recall", "f1")),
            decimal(m["roc_auc"]),
            decimal(m["ece"]),
            percent(m["false_positive_rate"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "n/a: undefined here (AUC needs both classes, FPR real photos, recall deepfakes).", ""]
    lines += _faces_markdown(report["model"].get("faces_found"))
    for name, folder in report["folders"].items():
        lines += _folder_markdown(name, folder)
    if report["training_curves"]:
        lines += ["## Training curves", "", f"![Training curves]({report['training_curves']})", ""]
    return "\n".join(lines)


def _faces_markdown(faces_found: dict[str, dict[str, int]] | None) -> list[str]:
    """Per folder, how many pictures the face detector found a face in (the others were judged whole)."""
    if not faces_found:
        return []
    lines = ["## Faces found", "", "| folder | pictures | with a face |", "| --- | --- | --- |"]
    for folder, counts in faces_found.items():
        lines.append(
            f"| {folder} | {counts['pictures']} | {counts['with_face']} "
            f"({percent(counts['with_face'] / max(1, counts['pictures']))}) |"
        )
    return [*lines, "", "A picture without a face is judged whole (its centre square).", ""]


def _folder_markdown(name: str, folder: dict[str, Any]) -> list[str]:
    plots = folder["plots"]
    lines = [
        f"## {name}",
        "",
        f"`{folder['summary']}` (threshold {folder['metrics']['threshold']:.2f})",
        "",
        f"![Confusion matrix]({plots['confusion']})",
        f"![ROC curve]({plots['roc']})" if plots["roc"] else "ROC curve: undefined (one class).",
        f"![Reliability diagram]({plots['reliability']})",
        f"![Probability histogram]({plots['histogram']})",
        "",
    ]
    if folder["skipped"]:
        count = len(folder["skipped"])
        lines += [f"{count} file(s) skipped as unreadable; report.json names each one with the reason.", ""]
    return lines


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def decimal(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# --- Plots --------------------------------------------------------------------------------------------------


def _figure(width: float = 5.0, height: float = 4.0) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _plot_confusion(metrics: dict[str, Any], name: str, path: Path) -> None:
    cells = np.array(metrics["confusion_matrix"]["matrix"])
    figure = _figure(4.5, 4.0)
    axes = figure.subplots()
    axes.imshow(cells, cmap="Blues", vmin=0)
    for (row, column), count in np.ndenumerate(cells):
        colour = "white" if count > cells.max() / 2 else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=14)
    axes.set_xticks([0, 1], labels=CLASS_NAMES)
    axes.set_yticks([0, 1], labels=CLASS_NAMES)
    axes.set_xlabel("Predicted")
    axes.set_ylabel("True")
    axes.set_title(f"{name}\nconfusion matrix, threshold {metrics['threshold']:.2f}")
    figure.savefig(path)


def _plot_roc(metrics: dict[str, Any], name: str, path: Path) -> None:
    curve = metrics["roc_curve"]
    figure = _figure()
    axes = figure.subplots()
    axes.plot(curve["fpr"], curve["tpr"], color="tab:red", label=f"AUC = {metrics['roc_auc']:.3f}")
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="chance")
    _unit_axes(axes, "False-positive rate (real flagged)", "True-positive rate (deepfakes caught)")
    axes.set_title(f"{name}\nROC curve")
    axes.legend(loc="lower right")
    figure.savefig(path)


def _plot_reliability(metrics: dict[str, Any], name: str, path: Path) -> None:
    filled = [b for b in metrics["reliability"] if b["count"]]
    figure = _figure()
    axes = figure.subplots()
    axes.bar(
        [b["lower"] for b in filled],
        [b["observed_frequency"] for b in filled],
        width=[b["upper"] - b["lower"] for b in filled],
        align="edge",
        edgecolor="black",
        color="tab:blue",
        label="observed",
    )
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    _unit_axes(axes, "Predicted probability of deepfake", "Observed fraction of deepfakes")
    axes.set_title(f"{name}\nreliability, ECE = {metrics['ece']:.3f}")
    axes.legend(loc="upper left")
    figure.savefig(path)


def _plot_histogram(labels: np.ndarray, probabilities: np.ndarray, threshold: float, name: str, path: Path) -> None:
    from matplotlib.ticker import MaxNLocator

    figure = _figure()
    axes = figure.subplots()
    edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    for label, (class_name, colour) in enumerate(zip(CLASS_NAMES, CLASS_COLOURS, strict=True)):
        scores = probabilities[labels == label]
        if len(scores):
            axes.hist(scores, bins=edges, alpha=0.6, color=colour, label=f"{class_name} (n={len(scores)})")
    axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.2f}")
    axes.set_xlim(0, 1)
    axes.set_xlabel("Predicted probability of deepfake")
    axes.set_ylabel("Images")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(f"{name}\nprobabilities by true class")
    axes.legend(loc="best")
    figure.savefig(path)


def _plot_training_curves(history: dict[str, list[float | None]], path: Path) -> None:
    """Accuracy and loss per epoch, training and validation side by side; missing series are left out."""
    from matplotlib.ticker import MaxNLocator

    figure = _figure(10.0, 4.0)
    for axes, metric in zip(figure.subplots(1, 2), ("accuracy", "loss"), strict=True):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            if key in history:
                # None (a diverged epoch) becomes a gap in the line.
                values = [np.nan if value is None else value for value in history[key]]
                axes.plot(range(1, len(values) + 1), values, style, marker="o", label=key)
        axes.set_xlabel("Epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(metric.capitalize())
        if axes.has_data():
            axes.legend()
        else:
            axes.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=axes.transAxes)
    figure.savefig(path)


def _unit_axes(axes: Axes, xlabel: str, ylabel: str) -> None:
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)

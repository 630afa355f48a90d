"""Finding, decoding and splitting a folder dataset.

A dataset is a folder with one subfolder per class, named as in the seed paper (`Real/`, `Deepfake/`) or
`real/`, `fake/` in any letter case; files may be nested below them. Every file in a class folder is tried:
what does not decode is skipped and named in the report, so one bad file never stops a run.

Training may read several dataset folders: each is a *source* (its folder name), and every sample carries
it, so that sampling can give each (source, class) group the same weight, splits are stratified per group,
and the report can give rates per real source and per generator.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from unmask import UserFacingError
from unmask.training.metrics import CLASS_NAMES
from unmask.training.preprocessing import Box, ImageDecodeError, centre_square_box, open_rgb, preprocess

REAL, DEEPFAKE = 0, 1  # indices into CLASS_NAMES
CLASS_FOLDERS = {"real": REAL, "deepfake": DEEPFAKE, "fake": DEEPFAKE}

# Training images are kept in memory as their face's square crop (or centre square), at most this many pixels a side: enough for
# augmentation to zoom and rescale, small enough that 6000 photos of any size fit in memory.
SOURCE_SIZE = 256
# The training fakes carry one round of JPEG quality 75 (Pillow's default); lossless files get the same
# round when the history is equalised, so that "was it ever a JPEG?" says nothing about the class.
HISTORY_JPEG_QUALITY = 75


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    source: str = ""  # the dataset folder's name

    @property
    def group(self) -> str:
        """The (source, class) group, e.g. "utkface/Real": one real source or one generator."""
        return f"{self.source}/{CLASS_NAMES[self.label]}"


@dataclass
class DecodedImages:
    """Decoded images of one split, with the files that could not be read."""

    images: list[np.ndarray]
    labels: np.ndarray
    paths: list[str]
    skipped: list[dict[str, str]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # Sample.group of each image

    def __len__(self) -> int:
        return len(self.images)


def find_samples(root: Path, require_both_classes: bool = True) -> list[Sample]:
    """All files below the class folders of `root`, sorted, each with its label."""
    root = Path(root)
    if not root.is_dir():
        raise UserFacingError(f"data folder {root} does not exist or is not a folder")
    class_dirs = [
        (d, CLASS_FOLDERS[d.name.lower()])
        for d in sorted(root.iterdir())
        if d.is_dir() and d.name.lower() in CLASS_FOLDERS
    ]
    if not class_dirs:
        raise UserFacingError(
            f"{root} has no class folders: expected 'Real' and 'Deepfake' (or 'real' and 'fake') inside it"
        )
    samples = [Sample(path, label, root.name) for directory, label in class_dirs for path in _files_below(directory)]
    counts = class_counts(samples)
    missing = [name for name, count in counts.items() if count == 0]
    if len(missing) == 2 or (require_both_classes and missing):
        raise UserFacingError(
            f"{root}: no files for class {' and '.join(missing)} "
            f"(found {counts['Real']} real, {counts['Deepfake']} deepfake)"
        )
    return samples


def find_sources(roots: Sequence[Path]) -> list[Sample]:
    """The samples of several dataset folders, each its own source. Every class needs a file somewhere, but a
    folder may hold one class only (a generator without real photos, a real source without fakes)."""
    names = [Path(root).name for root in roots]
    if len(set(names)) != len(names):
        raise UserFacingError(f"data folders must have distinct names (they name the sources): {names}")
    samples = [s for root in roots for s in find_samples(root, require_both_classes=len(roots) == 1)]
    counts = class_counts(samples)
    if min(counts.values()) == 0:
        raise UserFacingError(
            f"the data folders hold {counts['Real']} real and {counts['Deepfake']} deepfake "
            "files: both classes are needed"
        )
    return samples


def group_counts(samples: Iterable[Sample]) -> dict[str, int]:
    """How many samples each (source, class) group has."""
    counts: dict[str, int] = {}
    for sample in samples:
        counts[sample.group] = counts.get(sample.group, 0) + 1
    return dict(sorted(counts.items()))


def class_counts(samples: Iterable[Sample]) -> dict[str, int]:
    """How many samples each class has, by class name."""
    labels = [s.label for s in samples]
    return {name: labels.count(label) for label, name in enumerate(CLASS_NAMES)}


def _files_below(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def split_samples(
    samples: Sequence[Sample], seed: int, val_fraction: float, test_fraction: float
) -> dict[str, list[Sample]]:
    """A split stratified per source and class that depends only on the file list and the seed."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise UserFacingError("validation and test fractions must be in [0, 1) and sum to less than 1")
    rng = np.random.default_rng(seed)
    splits: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for source, label in sorted({(s.source, s.label) for s in samples}):
        members = sorted((s for s in samples if s.label == label and s.source == source), key=lambda s: str(s.path))
        order = rng.permutation(len(members))
        n_test = round(len(members) * test_fraction)
        n_val = round(len(members) * val_fraction)
        splits["test"] += [members[i] for i in order[:n_test]]
        splits["val"] += [members[i] for i in order[n_test : n_test + n_val]]
        splits["train"] += [members[i] for i in order[n_test + n_val :]]
    return splits


def equalise_history(image: Image.Image, source_format: str | None) -> Image.Image:
    """One JPEG round at quality 75 for images that were never JPEG-compressed."""
    if source_format == "JPEG":
        return image
    return reencoder("JPEG", HISTORY_JPEG_QUALITY)(image, source_format)


# Changes a decoded image given the format its file had (e.g. `equalise_history`, or a re-encoding).
Recode = Callable[[Image.Image, "str | None"], Image.Image]


def reencoder(format_name: str, quality: int | None = None, scale: int = 1) -> Recode:
    """A Recode that saves every image once in `format_name` (JPEG at `quality`, or PNG) and decodes it;
    with `scale`, enlarged that many times first (bicubic), as a picture re-published at a higher resolution."""

    def recode(image: Image.Image, _source_format: str | None) -> Image.Image:
        if scale != 1:
            image = image.resize((image.width * scale, image.height * scale), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, format=format_name, **({"quality": quality} if quality else {}))
        return Image.open(buffer).convert("RGB")

    return recode


def _decode(sample: Sample, recode: Recode | None, box: Box | None) -> tuple[Image.Image, Box | None]:
    """The decoded (and recoded) picture, and the face box scaled to it if recoding changed its size."""
    with Image.open(sample.path) as probe:  # the format before decoding says whether it was ever a JPEG
        source_format = probe.format
    image = open_rgb(sample.path)
    if not recode:
        return image, box
    recoded = recode(image, source_format)
    scale = recoded.width / image.width
    return recoded, box and tuple(edge * scale for edge in box)


def _source_square(image: Image.Image, box: Box | None) -> np.ndarray:
    """The face's square `box` (default: the centre square), shrunk to SOURCE_SIZE when larger (never enlarged)."""
    box = box or centre_square_box(*image.size)
    size = min(round(box[2] - box[0]), SOURCE_SIZE)
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=box))


def decode_images(
    samples: Iterable[Sample],
    *,
    for_training: bool,
    recode: Recode | None = None,
    crops: Mapping[str, Box | None] | None = None,
    workers: int = 2,
) -> DecodedImages:
    """Decode every sample. `crops` gives each file's face crop (training/faces.py; a file without one is
    judged whole). Training images become squares of at most SOURCE_SIZE (augmentation makes the model input
    later); evaluation images become model inputs (INPUT_SIZE squares, float32) right away."""
    samples = list(samples)
    crops = crops or {}

    def load(sample: Sample) -> np.ndarray | str:
        try:
            image, box = _decode(sample, recode, crops.get(str(sample.path)))
            if min(image.size) < 8:
                return f"image too small ({image.size[0]}x{image.size[1]})"
            return _source_square(image, box) if for_training else preprocess(image, box)
        except (ImageDecodeError, OSError, ValueError) as error:
            return str(error)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(load, samples))
    decoded = DecodedImages([], np.zeros(0, dtype=np.int64), [])
    labels = []
    for sample, result in zip(samples, results, strict=True):
        if isinstance(result, str):
            decoded.skipped.append({"path": str(sample.path), "reason": result})
        else:
            decoded.images.append(result)
            decoded.paths.append(str(sample.path))
            decoded.groups.append(sample.group)
            labels.append(sample.label)
    decoded.labels = np.asarray(labels, dtype=np.int64)
    return decoded

"""Framing benchmark: does a face keep its score when the detector frames it a little differently?

The same face gets a slightly different crop in every picture it stands in (the detector sees it at another
pyramid level, a few pixels off). Over FACES generated and FACES real test faces (Generated Photos and UTKFace,
each resized to 240 px in a 480 px portrait, as in tests/e2e/test_face_verdicts.py), this prints

- the detector: how far the crop of the face in a 1600x1000 scene, at its edge and in a 4000x3000 photo moves
  from its crop in the portrait alone (shift and side change, as a share of the side);
- per model (a run folder; its calibrated probability, what the page shows): how far the probability moves
  when the portrait's crop is moved by 1, 2 and 4 pixels or made 2% and 5% larger or smaller, and when the face
  stands in the three pictures (the e2e test's rule: within 0.05), and how many faces' verdict changes.

Run: .venv/bin/python bench/framing_stability.py [--faces 20] [--model models/npr ...]
Needs the face data in ../shared/data and Node (the detector runs in it, as in training).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
from tests.faces_support import FAKE_FACES, REAL_FACES, paste, scene  # noqa: E402
from unmask.contract import POLICY  # noqa: E402
from unmask.training.evaluate import load_browser_twin, predict  # noqa: E402
from unmask.training.faces import Face, face_detector  # noqa: E402
from unmask.training.preprocessing import preprocess  # noqa: E402

FACE_SIDE = 240
PORTRAIT_SIDE = 2 * FACE_SIDE
# (name, picture size, where the portrait is pasted): the e2e test's three pictures.
PLACES = (
    ("scene", (1600, 1000), (580, 260)),
    ("edge", (1600, 1000), (1120, 300)),
    ("photo", (4000, 3000), (1900, 1400)),
)
SHIFTS = (1, 2, 4)
SIDE_CHANGES = (0.95, 0.98, 1.02, 1.05)
TOLERANCE = 0.05


def portrait(face_file: Path, seed: int) -> Image.Image:
    picture = scene(PORTRAIT_SIDE, PORTRAIT_SIDE, seed=100 + seed)
    paste(picture, face_file, FACE_SIDE // 2, FACE_SIDE // 2, FACE_SIDE)
    return picture


def framed(face: Face, shift: int = 0, side_change: float = 1.0) -> tuple[int, int, int, int]:
    """The portrait's crop moved down and right by `shift` pixels and scaled about its centre, inside the
    portrait."""
    side = min(round(face.crop_side * side_change), PORTRAIT_SIDE)
    centre_x = face.crop_left + face.crop_side / 2 + shift
    centre_y = face.crop_top + face.crop_side / 2 + shift
    left = min(max(0, round(centre_x - side / 2)), PORTRAIT_SIDE - side)
    top = min(max(0, round(centre_y - side / 2)), PORTRAIT_SIDE - side)
    return (left, top, left + side, top + side)


def summary(values: list[float] | np.ndarray) -> str:
    values = np.asarray(values)
    return f"median {np.median(values):.3f}, p90 {np.percentile(values, 90):.3f}, max {values.max():.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=20, help="generated and real faces each (default 20)")
    parser.add_argument("--model", type=Path, action="append", help="run folder (repeatable; default models/npr)")
    args = parser.parse_args()
    files = sorted(FAKE_FACES.iterdir())[: args.faces] + sorted(REAL_FACES.iterdir())[: args.faces]

    # Each face: its portrait, the portrait's face, and the input of the face in each of the three pictures.
    cases: list[tuple[Image.Image, Face, list[np.ndarray]]] = []
    side_changes, shifts, missed = [], [], 0
    with face_detector() as detector:
        for seed, face_file in enumerate(files):
            alone = portrait(face_file, seed)
            found = detector.detect(alone)
            if len(found) != 1:
                missed += 1
                continue
            inputs = []
            for index, (_, size, (x, y)) in enumerate(PLACES):
                picture = scene(*size, seed=index + 1)
                picture.paste(alone, (x, y))
                in_picture = detector.detect(picture)
                if len(in_picture) != 1:
                    missed += 1
                    break
                face = in_picture[0]
                side_changes.append(abs(face.crop_side / found[0].crop_side - 1))
                moved = max(abs(face.crop_left - x - found[0].crop_left), abs(face.crop_top - y - found[0].crop_top))
                shifts.append(moved / found[0].crop_side)
                inputs.append(preprocess(picture, box=face.crop_box))
            else:
                cases.append((alone, found[0], inputs))

    print(f"{len(cases)} faces found alone and in all three pictures ({missed} pictures with not exactly one face)")
    print(f"detector, crop in a picture against the portrait's: side change {summary(side_changes)}")
    print(f"                                                    shift / side {summary(shifts)}")
    for run in args.model or [REPO_ROOT / "models" / "npr"]:
        model, _ = load_browser_twin(run)
        alone = predict(model, [preprocess(picture, box=face.crop_box) for picture, face, _ in cases])

        def moved_by(shift: int = 0, side_change: float = 1.0, model=model, alone=alone) -> np.ndarray:
            moved = [preprocess(picture, box=framed(face, shift, side_change)) for picture, face, _ in cases]
            return np.abs(predict(model, moved) - alone)

        print(f"\n{run}:")
        for shift in SHIFTS:
            print(f"  crop moved {shift} px:        |change| {summary(moved_by(shift=shift))}")
        for change in SIDE_CHANGES:
            print(f"  crop side x{change:<4}:        |change| {summary(moved_by(side_change=change))}")
        in_pictures = predict(model, [x for _, _, inputs in cases for x in inputs]).reshape(len(cases), len(PLACES))
        worst = np.abs(in_pictures - alone[:, None]).max(axis=1)
        # A verdict that changes between pictures matters more than a wobble far from 0.5.
        verdicts = np.column_stack([alone, in_pictures]) >= POLICY.threshold
        changed = np.mean(verdicts.any(axis=1) & ~verdicts.all(axis=1))
        undecided = np.mean(np.abs(alone - POLICY.threshold) < 0.1)
        print(
            f"  face in the three pictures: worst |change| per face {summary(worst)}; "
            f"faces within {TOLERANCE}: {np.mean(worst <= TOLERANCE):.0%}; verdict changes: {changed:.0%}\n"
            f"  faces alone within 0.1 of {POLICY.threshold:g}: {undecided:.0%}"
        )


if __name__ == "__main__":
    main()

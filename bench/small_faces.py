"""Small-face benchmark: how well does the model judge a face whose crop is smaller than its input?

The page enlarges a crop smaller than the model's input (128 px) to it, and an enlarged face has lost the finest
pixel relationships the model reads. This shrinks every face of three labelled sets (crossval-stylegan, and the
ffhq-stylegan2 and lfw-faceswap test splits of the run) to S px, as a smaller face in a photo would be, lets the
shared preprocessing enlarge it to the input again, and prints the calibrated model's AUC and the share of real
and generated faces it flags at each S. The model card's `min_face_crop_px` is set from this.

Run: .venv/bin/python bench/small_faces.py [--model models/npr]
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
from unmask.contract import POLICY  # noqa: E402
from unmask.training.data import find_samples  # noqa: E402
from unmask.training.evaluate import load_browser_twin, predict  # noqa: E402
from unmask.training.faces import face_crops  # noqa: E402
from unmask.training.metrics import binary_metrics  # noqa: E402
from unmask.training.preprocessing import INPUT_SIZE, centre_square_box, open_rgb, preprocess  # noqa: E402
from unmask.training.run_folder import RunFolder  # noqa: E402

DATA = REPO_ROOT.parent / "shared" / "data"
SIDES = (INPUT_SIZE, 112, 96, 80, 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO_ROOT / "models" / "npr", help="run folder")
    args = parser.parse_args()
    model, _ = load_browser_twin(args.model)
    test_split = RunFolder(args.model).read_split("test")
    sets = {
        "crossval-stylegan": find_samples(DATA / "crossval-stylegan"),
        "ffhq-stylegan2/test": [s for s in test_split if s.source == "ffhq-stylegan2"],
        "lfw-faceswap/test": [s for s in test_split if s.source == "lfw-faceswap"],
    }
    crops, _ = face_crops(s.path for samples in sets.values() for s in samples)
    print(
        f"{args.model.name}: AUC / real flagged / fakes caught, with each face's crop shrunk to S px and enlarged again"
    )
    print(
        "set | n | " + " | ".join(f"S = {side}" + (" (not enlarged)" if side == INPUT_SIZE else "") for side in SIDES)
    )
    for name, samples in sets.items():
        labels = np.array([s.label for s in samples])
        faces = []
        for sample in samples:
            image = open_rgb(sample.path)
            box = crops.get(str(sample.path)) or centre_square_box(*image.size)
            faces.append(image.crop(tuple(round(edge) for edge in box)))
        cells = []
        for side in SIDES:
            shrunk = [
                face.resize((side, side), Image.Resampling.BILINEAR) if face.width > side else face for face in faces
            ]
            probabilities = predict(model, [preprocess(face) for face in shrunk])
            auc = binary_metrics(labels, probabilities)["roc_auc"]
            flagged = probabilities >= POLICY.threshold
            cells.append(f"{auc:.3f} / {flagged[labels == 0].mean():.1%} / {flagged[labels == 1].mean():.1%}")
        print(f"{name} | {len(samples)} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()

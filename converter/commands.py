"""`unmask export`: a training run to the TensorFlow.js model that the web app serves."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from unmask import MODEL_DIR, UserFacingError

# Images the post-export parity check runs through both models: a few are enough to catch a broken
# conversion, and each one costs a Keras and a Node forward pass.
PARITY_SAMPLES = 8
SYNTHETIC_SAMPLES = 4
SYNTHETIC_SEED = 0

if TYPE_CHECKING:  # the plain install (the server) has no NumPy: import it only where the export runs
    import numpy as np

logger = logging.getLogger(__name__)


def register(subcommands: argparse._SubParsersAction) -> None:
    export = subcommands.add_parser(
        "export",
        help="convert a training run to the browser model (TensorFlow.js graph model + metadata.json)",
        description="Export the run's calibrated model with the tensorflowjs converter, write metadata.json "
        "(the model card) beside it, and check that the browser model gives the same numbers.",
    )
    export.add_argument("--run", type=Path, required=True, help="training run folder (holds model.keras)")
    export.add_argument("--out", type=Path, default=MODEL_DIR, help=f"model folder to write (default: {MODEL_DIR})")
    export.add_argument("--version", help="model version string (default: architecture and time)")
    export.add_argument(
        "--skip-parity",
        action="store_true",
        help="do not check the exported model against the Keras model. The check runs the "
        "browser model in Node.js with web/node_modules (`npm ci --prefix web`); skip it "
        "only on a machine without them, and check the export elsewhere before serving it",
    )
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from unmask.converter.export import export_model

    metadata = export_model(
        args.run,
        args.out,
        version=args.version,
        check=None if args.skip_parity else lambda converted: _check_parity(args.run, converted),
    )
    if args.skip_parity:
        logger.warning("parity check skipped (--skip-parity): the browser model was not compared with the Keras model")
    size = sum(f.stat().st_size for f in args.out.iterdir() if f.is_file())
    print(f"exported {metadata['version']} to {args.out} ({size / 1e6:.2f} MB)")
    return 0


def _check_parity(run_dir: Path, converted: Path) -> None:
    """Runs before the converted model replaces the served one; raising keeps the old model in place."""
    from unmask.converter.parity import verify_export

    images, source = _parity_samples(run_dir)
    try:
        result = verify_export(run_dir, converted, images)
    except UserFacingError as error:
        raise UserFacingError(f"{error}\n(images: {source}; the served model was left unchanged)") from None
    print(f"{result.summary()}; images: {source}")


def _parity_samples(run_dir: Path) -> tuple[np.ndarray, str]:
    """Up to PARITY_SAMPLES images of the run's recorded test split (both classes, alternately), preprocessed
    as the browser does; a few synthetic images when none of them can be read."""
    from itertools import zip_longest

    import numpy as np

    from unmask.training.data import decode_images
    from unmask.training.run_folder import RunFolder

    samples = RunFolder(Path(run_dir)).read_split("test")
    by_class = [[s for s in samples if s.label == label] for label in sorted({s.label for s in samples})]
    chosen = [s for group in zip_longest(*by_class) for s in group if s is not None][:PARITY_SAMPLES]
    decoded = decode_images(chosen, for_training=False)
    if decoded.images:
        return np.stack(decoded.images), "the run's test split"
    return _synthetic_images(), f"synthetic (no readable test split in {run_dir})"


def _synthetic_images() -> np.ndarray:
    """Smooth random colour fields at several scales, in [0, 1]: varied enough to exercise every layer."""
    import numpy as np
    from PIL import Image

    from unmask.training.preprocessing import INPUT_SIZE, to_array

    rng = np.random.default_rng(SYNTHETIC_SEED)
    images = []
    for side in (4, 16, 64, 224)[:SYNTHETIC_SAMPLES]:
        small = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR)
        images.append(to_array(image))
    return np.stack(images)

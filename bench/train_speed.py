"""How long the default model takes to train on this machine's CPU.

Trains the default configuration on a dataset for a few epochs and prints seconds per epoch and the
projected time of a full run (the configured maximum number of epochs; early stopping can only shorten it).

    .venv/bin/python bench/train_speed.py --data ../shared/data/ffhq-stylegan2 --data ../shared/data/utkface --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from unmask.training.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE
from unmask.training.run_folder import RunFolder
from unmask.training.train import config_for, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, action="append", required=True, help="a source folder (repeatable)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs to time (the first includes start-up)")
    parser.add_argument("--arch", choices=ARCHITECTURES, default=DEFAULT_ARCHITECTURE)
    args = parser.parse_args()

    full = config_for(args.arch)
    with tempfile.TemporaryDirectory() as scratch:
        started = time.monotonic()
        train(
            args.data,
            Path(scratch),
            config_for(args.arch, epochs=args.epochs, patience=args.epochs, min_epochs=args.epochs),
        )
        total = time.monotonic() - started
        run = RunFolder(Path(scratch)).read_run()
    fit_seconds = run["training"]["seconds"]
    per_epoch = fit_seconds / run["training"]["epochs_run"]
    overhead = total - fit_seconds
    print(
        json.dumps(
            {
                "cpu_cores": os.cpu_count(),
                "architecture": args.arch,
                "epochs_timed": run["training"]["epochs_run"],
                "seconds_per_epoch": round(per_epoch, 1),
                "overhead_seconds": round(overhead, 1),
                "configured_epochs": full.epochs,
                "projected_full_run_minutes": round((overhead + per_epoch * full.epochs) / 60, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

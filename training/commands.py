"""`unmask train` and `unmask evaluate`. TensorFlow is imported only when one of them runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from unmask import PROJECT_ROOT

DEFAULT_RUNS = PROJECT_ROOT / "runs"


def register(subcommands: argparse._SubParsersAction) -> None:
    train = subcommands.add_parser(
        "train", help="train a model on a folder dataset (Real/ and Deepfake/ subfolders)",
        description="Train a model, calibrate it on the validation split and evaluate it on the test split. "
                    "Writes a run folder: model.keras, run.json, split.json and report/.")
    train.add_argument("--data", type=Path, required=True, help="folder with Real/ and Deepfake/ (or real/ fake/)")
    train.add_argument("--out", type=Path, help="run folder to write (default: runs/<architecture>-<time>)")
    train.add_argument("--arch", choices=("unmasknet", "paper"), default="unmasknet",
                       help="unmasknet (default, robust, browser-sized) or paper (the seed paper's CNN)")
    train.add_argument("--epochs", type=int, help="maximum epochs (early stopping may end sooner)")
    train.add_argument("--batch-size", type=int, help="images per batch")
    train.add_argument("--learning-rate", type=float, help="peak learning rate")
    train.add_argument("--seed", type=int, help="seed of the split, augmentation and weights")
    train.add_argument("--val-data", type=Path, help="explicit validation folder instead of a split")
    train.add_argument("--test-data", type=Path, help="explicit test folder instead of a split")
    train.add_argument("--eval-data", type=Path, action="append", default=[],
                       help="extra folder to evaluate after training (repeatable; never used for training)")
    train.add_argument("--no-equalise-history", dest="equalise_history", action="store_false", default=None,
                       help="do not give lossless files one JPEG q75 round (only to show the shortcut)")
    train.set_defaults(handler=run_train)

    evaluate = subcommands.add_parser(
        "evaluate", help="evaluate a trained model and write a report (JSON, Markdown, PNG plots)",
        description="Evaluate a run's calibrated model (the Keras twin of the browser model) on folders and "
                    "on the run's recorded test split, as stored, re-encoded as JPEG q75/q95 and PNG, and "
                    "enlarged 4x as JPEG q90.")
    evaluate.add_argument("--model", type=Path, required=True, help="training run folder (holds model.keras)")
    evaluate.add_argument("--data", type=Path, action="append", default=[],
                          help="folder to evaluate (repeatable; one class alone is fine)")
    evaluate.add_argument("--out", type=Path, help="report folder (default: <run>/report)")
    evaluate.add_argument("--no-test-split", dest="test_split", action="store_false",
                          help="skip the run's recorded test split")
    evaluate.set_defaults(handler=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    import time

    from training.evaluate import evaluate
    from training.train import config_for, train

    config = config_for(args.arch, epochs=args.epochs, batch_size=args.batch_size,
                        learning_rate=args.learning_rate, seed=args.seed, equalise_history=args.equalise_history)
    out = args.out or DEFAULT_RUNS / f"{args.arch}-{time.strftime('%Y%m%d-%H%M%S')}"
    train(args.data, out, config, val_dir=args.val_data, test_dir=args.test_data)
    evaluate(out, args.eval_data, out / "report")
    print(f"run folder: {out}\nexport it for the browser with: unmask export --run {out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate

    evaluate(args.model, args.data, args.out or args.model / "report", test_split=args.test_split)
    return 0

"""`unmask train` and `unmask evaluate`. TensorFlow is imported only when one of them runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from unmask import UserFacingError
from unmask.training.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE

# Below the current folder, never next to the installed source.
DEFAULT_RUNS = Path("runs")


def register(subcommands: argparse._SubParsersAction) -> None:
    train = subcommands.add_parser(
        "train",
        help="train a model on a folder dataset (Real/ and Deepfake/ subfolders)",
        description="Train a model, calibrate it on the validation split and evaluate it on the test split. "
        "Writes a run folder: model.keras, run.json, split.json and report/.",
    )
    train.add_argument(
        "--data",
        type=Path,
        action="append",
        required=True,
        help="folder with Real/ and/or Deepfake/ (or real/ fake/); repeatable: each folder is a "
        "source, and every class needs files in at least one of them",
    )
    train.add_argument("--out", type=Path, help="run folder to write (default: runs/<architecture>-<time>)")
    _recipe_arguments(train)
    train.add_argument("--val-data", type=Path, help="explicit validation folder instead of a split")
    train.add_argument("--test-data", type=Path, help="explicit test folder instead of a split")
    train.add_argument(
        "--eval-data",
        type=Path,
        action="append",
        default=[],
        help="extra folder to evaluate after training (repeatable; never used for training)",
    )
    train.set_defaults(handler=run_train)

    evaluate = subcommands.add_parser(
        "evaluate",
        help="evaluate a trained model and write a report (JSON, Markdown, PNG plots); or train and "
        "compare models (--leave-one-source-out, --compare)",
        description="Evaluate a run's calibrated model (the Keras twin of the browser model) on folders and "
        "on the run's recorded test split, per source, and as a whole as stored, re-encoded as "
        "JPEG q75/q95 and PNG, and enlarged 4x as JPEG q90; each source also re-framed (every face on "
        "a square of 90-99% of its crop at a random place inside it). With --leave-one-source-out, train one "
        "model per source and class of the --data folders without it and score it on what it never "
        "saw; with --compare, train each named architecture on the same split and compare them.",
    )
    evaluate.add_argument("--model", type=Path, help="training run folder (holds model.keras)")
    evaluate.add_argument(
        "--data",
        type=Path,
        action="append",
        default=[],
        help="folder to evaluate (repeatable; one class alone is fine); with "
        "--leave-one-source-out or --compare: the training sources",
    )
    evaluate.add_argument(
        "--eval-data",
        type=Path,
        action="append",
        default=[],
        help="with --leave-one-source-out or --compare: extra folder scored by every model, "
        "never trained on (repeatable)",
    )
    evaluate.add_argument("--out", type=Path, help="report folder (default: <run>/report, or runs/<study>-<time>)")
    evaluate.add_argument(
        "--no-test-split", dest="test_split", action="store_false", help="skip the run's recorded test split"
    )
    study = evaluate.add_mutually_exclusive_group()
    study.add_argument(
        "--leave-one-source-out",
        action="store_true",
        help="per real source and per generator of the --data folders, train without it and score "
        "it (the models' run folders and the table go to --out)",
    )
    study.add_argument(
        "--compare",
        metavar="ARCH",
        action="append",
        choices=ARCHITECTURES,
        help="train this architecture on the --data folders with the recipe below (repeatable) "
        "and compare them on the same test split",
    )
    _recipe_arguments(evaluate)
    evaluate.set_defaults(handler=run_evaluate)

    calibrate = subcommands.add_parser(
        "calibrate",
        help="set a trained run's operating point and calibration again (rewrites its run.json)",
        description="Put probability 0.5 where at most --target-fpr of each real source's validation faces "
        "(as stored, and re-saved as JPEG q95 and 4x larger as JPEG q90) are flagged, and fit the "
        "scale around it. Run `unmask evaluate --model RUN` afterwards to refresh the report.",
    )
    calibrate.add_argument("--run", type=Path, required=True, help="training run folder (holds model.keras)")
    calibrate.add_argument("--target-fpr", type=float, help="default: the run's own (0.02)")
    calibrate.set_defaults(handler=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    from unmask.training.run_folder import RunFolder

    RunFolder(args.run).require_trained()  # before TensorFlow takes its seconds to load
    from unmask.training.train import recalibrate

    recalibrate(args.run, args.target_fpr)
    return 0


def _recipe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--arch",
        choices=ARCHITECTURES,
        default=DEFAULT_ARCHITECTURE,
        help="npr (default: a fixed high-pass residual, patch scores pooled), unmasknet (the "
        "previous default) or paper (the seed paper's CNN)",
    )
    parser.add_argument("--epochs", type=int, help="maximum epochs (early stopping may end sooner)")
    parser.add_argument(
        "--epoch-size", type=int, help="images drawn per epoch, source-balanced (default: the training split's size)"
    )
    parser.add_argument("--batch-size", type=int, help="images per batch")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate")
    parser.add_argument("--seed", type=int, help="seed of the split, augmentation and weights")
    parser.add_argument(
        "--target-fpr",
        type=float,
        help="share of each real source's validation faces flagged at probability 0.5 (default 0.02)",
    )
    parser.add_argument(
        "--no-equalise-history",
        dest="equalise_history",
        action="store_false",
        default=None,
        help="do not give lossless files one JPEG q75 round (only to show the shortcut)",
    )
    parser.add_argument(
        "--aligned-fakes",
        action=argparse.BooleanOptionalAction,
        help="add one content-aligned pseudo-fake per real training face, made by learned upsamplers",
    )


def run_train(args: argparse.Namespace) -> int:
    import time

    from unmask.training.evaluate import evaluate
    from unmask.training.run_folder import RunFolder
    from unmask.training.train import train

    out = args.out or DEFAULT_RUNS / f"{args.arch}-{time.strftime('%Y%m%d-%H%M%S')}"
    train(args.data, out, recipe(args, args.arch), val_dir=args.val_data, test_dir=args.test_data)
    evaluate(out, args.eval_data, RunFolder(out).report_dir)
    print(f"run folder: {out}\nexport it for the browser with: unmask export --run {out}")
    return 0


def recipe(args: argparse.Namespace, architecture: str):  # -> training.train.TrainConfig
    from unmask.training.train import config_for

    return config_for(
        architecture,
        epochs=args.epochs,
        epoch_size=args.epoch_size,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        target_fpr=args.target_fpr,
        equalise_history=args.equalise_history,
        aligned_fakes=args.aligned_fakes,
    )


def run_evaluate(args: argparse.Namespace) -> int:
    import time

    if args.leave_one_source_out or args.compare:
        from unmask.training.studies import compare_architectures, leave_one_source_out

        if not args.data:
            raise UserFacingError("give the training sources with --data")
        study = "loso" if args.leave_one_source_out else "compare"
        out = args.out or DEFAULT_RUNS / f"{study}-{time.strftime('%Y%m%d-%H%M%S')}"
        if args.leave_one_source_out:
            leave_one_source_out(args.data, args.eval_data, out, recipe(args, args.arch))
        else:
            compare_architectures(args.data, args.eval_data, out, [recipe(args, arch) for arch in args.compare])
        return 0
    from unmask.training.evaluate import evaluate
    from unmask.training.run_folder import RunFolder

    if args.model is None:
        raise UserFacingError("give the training run to evaluate with --model")
    evaluate(args.model, args.data, args.out or RunFolder(args.model).report_dir, test_split=args.test_split)
    return 0

"""The `unmask` command. Each part of the product registers its own subcommands; heavy imports
(TensorFlow) happen only inside the handlers that need them, so `serve` and `users` run on the plain install."""

from __future__ import annotations

import argparse
import logging
import sys

from unmask import UserFacingError
from unmask.converter import commands as converter_commands
from unmask.server import commands as server_commands
from unmask.training import commands as training_commands

# What `train`, `evaluate` and `export` need beyond the plain install (the `train` extra).
TRAINING_MODULES = {"tensorflow", "keras", "tensorflowjs", "numpy", "PIL", "matplotlib"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Progress and diagnostics go to standard error through this; a command's result (a user list, the exported
# model's name) is printed to standard output.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unmask",
        description="Private deepfake image detection: train, evaluate, export and serve the model.",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="INFO",
        help="least severe messages shown on standard error (default: INFO)",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    training_commands.register(subcommands)
    converter_commands.register(subcommands)
    server_commands.register(subcommands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except UserFacingError as error:
        print(f"unmask {args.command}: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        if error.name not in TRAINING_MODULES:
            raise
        print(
            f"unmask {args.command}: error: needs {error.name}, which the plain (server) install leaves out; "
            "install the training extra: pip install -e '.[train]'",
            file=sys.stderr,
        )
        return 2


def configure_logging(level: str) -> None:
    """The one logging set-up: every module logs to its own `logging.getLogger(__name__)`. A no-op where logging
    is set up already (pytest's capture, a program that calls `main`)."""
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

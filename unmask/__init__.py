"""Unmask: a private deepfake image detector whose analysis runs in the browser."""

from pathlib import Path

__version__ = "0.1.0"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WEB_ROOT = PROJECT_ROOT / "web"
MODEL_DIR = WEB_ROOT / "model"


class UserFacingError(Exception):
    """An error whose message is meant for the person at the terminal: `unmask` prints it without a traceback."""

"""Unmask: a private deepfake image detector whose analysis runs in the browser."""

from pathlib import Path

__version__ = "0.1.0"

# The browser app, its vendored libraries and the shipped model: package data of an installed wheel; in a
# checkout, `unmask/web` is a link to the top-level web/ folder. Either way it is found through the package.
WEB_ROOT = Path(__file__).resolve().parent / "web"
MODEL_DIR = WEB_ROOT / "model"


class UserFacingError(Exception):
    """An error whose message is meant for the person at the terminal: `unmask` prints it without a traceback."""

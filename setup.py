"""The wheel carries the browser app as package data (unmask/web): pages, scripts, the shipped model and, of
web/node_modules, only the files the server ships (server/vendor_files.py). Those come from `npm ci`, which
installs exactly what web/package-lock.json pins; a wheel built without them would answer 404 for TF.js, so the
build stops instead.

Everything else about the package is in pyproject.toml.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import FileError

CHECKOUT = Path(__file__).resolve().parent
WEB_PACKAGE = "unmask"
WEB_PREFIX = "web"


def vendor_paths() -> list[str]:
    """server/vendor_files.py's list, loaded by path: the package (and Quart) is not installed yet."""
    spec = importlib.util.spec_from_file_location("vendor_files", CHECKOUT / "server" / "vendor_files.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.vendor_paths()


class BuildPyWithVendorFiles(build_py):
    """build_py that also copies the vendored browser files, and refuses to build without them."""

    def finalize_options(self) -> None:
        super().finalize_options()
        self.package_data = {
            **self.package_data,
            WEB_PACKAGE: [*self.package_data.get(WEB_PACKAGE, []), *vendored_files()],
        }

    def run(self) -> None:
        # An editable install serves web/ from the checkout itself, node_modules or not.
        missing = [path for path in vendored_files() if not (CHECKOUT / path).is_file()]
        if missing and not self.editable_mode:
            raise FileError(
                f"the wheel ships the browser libraries from web/node_modules, but {len(missing)} of "
                f"their files are missing (first: {missing[0]}); run `npm ci --prefix web` first"
            )
        super().run()


def vendored_files() -> list[str]:
    return [f"{WEB_PREFIX}/{path}" for path in vendor_paths()]


setup(cmdclass={"build_py": BuildPyWithVendorFiles})

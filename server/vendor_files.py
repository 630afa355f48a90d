"""The files of the browser libraries (installed into web/node_modules from web/package-lock.json by `npm ci`)
that the server ships, and nothing else of node_modules.

Standard library only: the wheel build (setup.py) loads this file by path, before anything is installed, to copy
exactly these files into the package.
"""

from __future__ import annotations

from pathlib import PurePosixPath

TFJS_DIST = PurePosixPath("node_modules/@tensorflow/tfjs/dist")
TFJS_WASM_DIST = PurePosixPath("node_modules/@tensorflow/tfjs-backend-wasm/dist")
FACE_DETECTOR_DIST = PurePosixPath("node_modules/@vladmandic/human/models")
EXIFR_DIST = PurePosixPath("node_modules/exifr/dist")
C2PA_DIST = PurePosixPath("node_modules/@contentauth/c2pa-wasm/pkg")
# /vendor/<package>/<name> -> the folder below the web root that holds <name>.
VENDOR_FILES: dict[str, dict[str, PurePosixPath]] = {
    "tfjs": {
        "tf.min.js": TFJS_DIST,
        "tf.min.js.map": TFJS_DIST,
        "tf-backend-wasm.min.js": TFJS_WASM_DIST,
        "tfjs-backend-wasm.wasm": TFJS_WASM_DIST,
        "tfjs-backend-wasm-simd.wasm": TFJS_WASM_DIST,
        "tfjs-backend-wasm-threaded-simd.wasm": TFJS_WASM_DIST,
    },
    "exifr": {"full.esm.mjs": EXIFR_DIST},
    "c2pa": {"c2pa.js": C2PA_DIST, "c2pa_bg.wasm": C2PA_DIST},
    "faces": {"blazeface.json": FACE_DETECTOR_DIST, "blazeface.bin": FACE_DETECTOR_DIST},
}


def vendor_paths() -> list[str]:
    """Every shipped vendor file, relative to the web root (e.g. node_modules/exifr/dist/full.esm.mjs)."""
    return sorted(str(folder / name) for files in VENDOR_FILES.values() for name, folder in files.items())

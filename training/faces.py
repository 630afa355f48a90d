"""Faces in training and evaluation pictures, found by the browser's own detector.

`web/js/faces.js` is the one definition of face detection and of the crop the classifier judges. Training runs
that very file under Node (`training/detect_faces.mjs`, TF.js wasm, the same BlazeFace weights), fed the pixels
Pillow decodes, so a training crop is the crop the browser makes of the same file.

Detection costs tens of milliseconds a picture, so results are cached by the file's SHA-256 and the detector's
version: re-training on the same files never detects again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from unmask import WEB_ROOT, UserFacingError
from unmask.training.preprocessing import ImageDecodeError, open_rgb

logger = logging.getLogger(__name__)

DETECT_SCRIPT = Path(__file__).resolve().parent / "detect_faces.mjs"
FACES_MODULE = WEB_ROOT / "js" / "faces.js"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "unmask" / "faces"


@dataclass(frozen=True)
class Face:
    """One detected face: the detector's box and the square the classifier judges, in source pixels."""

    left: float
    top: float
    width: float
    height: float
    score: float
    crop_left: int
    crop_top: int
    crop_side: int

    @property
    def crop_box(self) -> tuple[int, int, int, int]:
        """The crop in Pillow's (left, top, right, bottom) convention."""
        return (self.crop_left, self.crop_top, self.crop_left + self.crop_side, self.crop_top + self.crop_side)

    @classmethod
    def from_json(cls, item: dict) -> Face:
        box, crop = item["box"], item["crop"]
        return cls(
            box["left"], box["top"], box["width"], box["height"], item["score"], crop["left"], crop["top"], crop["side"]
        )


def detector_version() -> str:
    """The detector's version string, read from its one definition."""
    for line in FACES_MODULE.read_text(encoding="utf-8").splitlines():
        if line.startswith("export const DETECTOR_VERSION = "):
            return line.split("=", 1)[1].strip().strip(";").strip("'\"")
    raise RuntimeError(f"{FACES_MODULE} defines no DETECTOR_VERSION")


class FaceDetector:
    """One Node process running the browser's detector; pictures go in as RGB bytes, faces come back."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise UserFacingError("finding faces needs Node.js (the browser's detector runs in it): install Node 20")
        self._process = subprocess.Popen([node, str(DETECT_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def detect(self, image: Image.Image) -> list[Face]:
        """Every face in an RGB picture, most confident first."""
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
        height, width = pixels.shape[:2]
        assert self._process.stdin and self._process.stdout
        try:
            self._process.stdin.write(struct.pack("<II", width, height) + pixels.tobytes())
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        except BrokenPipeError:
            line = b""
        if not line:
            raise UserFacingError("the face detector stopped (see its message above); is `npm ci --prefix web` done?")
        return [Face.from_json(item) for item in json.loads(line)["faces"]]

    def close(self) -> None:
        """Closing its input ends the script; its output pipe is closed too, or Python warns of a leaked file."""
        assert self._process.stdin and self._process.stdout
        self._process.stdin.close()
        self._process.wait(timeout=30)
        self._process.stdout.close()


@contextmanager
def face_detector() -> Iterator[FaceDetector]:
    detector = FaceDetector()
    try:
        yield detector
    finally:
        detector.close()


class FaceCache:
    """Faces per file content (SHA-256), for one detector version, in one JSON file."""

    def __init__(self, directory: Path | None = None) -> None:
        directory = Path(directory or os.environ.get("UNMASK_FACE_CACHE") or DEFAULT_CACHE_DIR)
        self.path = directory / f"{hashlib.sha256(detector_version().encode()).hexdigest()[:16]}.json"
        self._entries: dict[str, list[dict]] = {}
        if self.path.is_file():
            try:
                self._entries = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                logger.warning("face cache %s is unreadable; detecting again", self.path)

    def get(self, digest: str) -> list[Face] | None:
        items = self._entries.get(digest)
        return None if items is None else [Face.from_json(item) for item in items]

    def put(self, digest: str, faces: list[Face]) -> None:
        self._entries[digest] = [
            {
                "box": {"left": f.left, "top": f.top, "width": f.width, "height": f.height},
                "score": f.score,
                "crop": {"left": f.crop_left, "top": f.crop_top, "side": f.crop_side},
            }
            for f in faces
        ]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._entries), encoding="utf-8")
        temporary.replace(self.path)  # never a half-written cache


def find_faces(paths: Iterable[Path], cache: FaceCache | None = None) -> dict[str, list[Face]]:
    """Faces of every file (by path), from the cache where it has them. Undecodable files are left out."""
    cache = cache or FaceCache()
    found: dict[str, list[Face]] = {}
    missing: list[tuple[Path, str]] = []
    for path in paths:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        faces = cache.get(digest)
        if faces is None:
            missing.append((Path(path), digest))
        else:
            found[str(path)] = faces
    if missing:
        logger.info("finding faces in %d pictures (%d cached)", len(missing), len(found))
        with face_detector() as detector:
            for index, (path, digest) in enumerate(missing, 1):
                try:
                    faces = detector.detect(open_rgb(path))
                except ImageDecodeError:
                    continue
                cache.put(digest, faces)
                found[str(path)] = faces
                if index % 500 == 0:
                    cache.save()
                    logger.info("faces: %d of %d pictures", index, len(missing))
        cache.save()
    return found


def training_crop(faces: list[Face]) -> tuple[int, int, int, int] | None:
    """The crop a training picture is judged by: its most confident face (the browser judges every face; a
    training picture shows one). None when no face was found: the picture is used whole, as before."""
    return faces[0].crop_box if faces else None


def face_crops(paths: Iterable[Path]) -> tuple[dict[str, tuple[int, int, int, int] | None], dict[str, dict[str, int]]]:
    """Each file's training crop (None: no face, judged whole) and, per folder, how many pictures had a face."""
    paths = list(paths)
    faces = find_faces(paths)
    crops = {key: training_crop(found) for key, found in faces.items()}
    summary: dict[str, dict[str, int]] = {}
    for path in paths:
        folder = summary.setdefault(
            f"{Path(path).parent.parent.name}/{Path(path).parent.name}", {"pictures": 0, "with_face": 0}
        )
        folder["pictures"] += 1
        folder["with_face"] += crops.get(str(path)) is not None
    return crops, summary

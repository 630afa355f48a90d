"""End-to-end helpers: the real server (`unmask serve`) on a free port with a fresh instance, headless Debian
Chromium driven by Playwright, and a page logged in to the analyser.

Chromium is the system one (`playwright install` downloads browsers, which this project never does).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = REPO_ROOT / "web" / "model"
CHROMIUM = Path(os.environ.get("UNMASK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USERNAME = "alice"
PASSWORD = "password123456"
SERVER_START_TIMEOUT_S = 60
MODEL_READY_TIMEOUT_MS = 120_000
RESULT_TIMEOUT_MS = 120_000
# Every field a picture's verdict log carries when the user keeps no file name and writes no label: written out
# here, not taken from the contract, so that a field added there must also be added here on purpose.
IMAGE_LOG_FIELDS = frozenset(
    {
        "id",
        "image_sha256",
        "width",
        "height",
        "probability",
        "verdict",
        "uncertain",
        "model_version",
        "backend",
        "inference_ms",
        "analysed_at",
        "kind",
        "faces",
        "provenance",
    }
)
# The evidence layer (1x1 convolution) whose kernel and bias `spread_model` replaces, and the spread of logits
# it aims at.
EVIDENCE_WEIGHT_SUFFIX = "evidence_1/convolution/ReadVariableOp"
EVIDENCE_BIAS_SUFFIX = "evidence_1/Reshape"
SPREAD_LOGIT = 2.5


@dataclass(frozen=True)
class Server:
    url: str
    instance: Path
    model_dir: Path
    pid: int = 0

    @property
    def database(self) -> Path:
        return self.instance / "unmask.sqlite3"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unmask_command(*args: str, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "unmask.cli", *args]
    return subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True, text=True, **kwargs)


@contextlib.contextmanager
def launched_chromium() -> Iterator:
    """Debian's chromium driven by Playwright, with the flags the tests and the benchmarks share."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def running_server(
    instance: Path, model_dir: Path, port: int | None = None, serve_options: tuple[str, ...] = ()
) -> Iterator[Server]:
    """`unmask serve` (on a free port unless given) with one user, alice, created with the instance;
    stopped afterwards. Starting it again on the same instance and port brings back the same site (as does
    starting another on the same instance, with another port). `<instance>/config.py` may name the database."""
    if not (instance / "secret_key").exists():  # written on the first command with this instance
        unmask_command("users", "add", USERNAME, "--instance", str(instance), input=PASSWORD + "\n")
    port = port or free_port()
    # Every test logs alice in from a new browser: more logins an hour than one person makes.
    environment = {**os.environ, "UNMASK_MODEL_DIR": str(model_dir), "UNMASK_THROTTLE_ACCOUNT_FREE_LOGINS": "1000"}
    log = (instance / "server.log").open("a")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "unmask.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--instance",
            str(instance),
            *serve_options,
        ],
        cwd=REPO_ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/session", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start: {(instance / 'server.log').read_text()}") from None
                time.sleep(0.2)
        yield Server(url=url, instance=instance, model_dir=model_dir, pid=process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def find_weight(model_dir: Path, suffix: str) -> tuple[Path, int, list[int]]:
    """The shard, byte offset and shape of the float32 weight whose name ends with `suffix`."""
    model = json.loads((model_dir / "model.json").read_text())
    for group in model["weightsManifest"]:
        offset = 0
        for weight in group["weights"]:
            if weight["name"].endswith(suffix):
                return model_dir / group["paths"][0], offset, weight["shape"]
            offset += int(np.prod(weight["shape"])) * np.dtype(weight["dtype"]).itemsize
    raise KeyError(suffix)


def write_weight(model_dir: Path, suffix: str, values: np.ndarray) -> None:
    """Overwrites, in place in its shard, the float32 weight whose name ends with `suffix`."""
    shard, offset, shape = find_weight(model_dir, suffix)
    data = bytearray(shard.read_bytes())
    encoded = values.astype(np.float32).reshape(shape).tobytes()
    data[offset : offset + len(encoded)] = encoded
    shard.write_bytes(bytes(data))


def spread_model(target: Path, probe: np.ndarray) -> Path:
    """A copy of the shipped model with a seeded random evidence layer whose kernel moves the logit of `probe`
    images by about SPREAD_LOGIT and whose bias centres them on 0: its probabilities spread on both sides of
    0.5, where a numerical mismatch anywhere in the graph shows (every probability at 0.5, as with an
    untrained model, or all of them near 0, proves little)."""
    from reference_model import ReferenceModel

    shutil.copytree(SHIPPED_MODEL, target)
    kernel = np.random.default_rng(7).normal(0.0, 1.0, find_weight(target, EVIDENCE_WEIGHT_SUFFIX)[2])

    def logits(kernel_scale: float, bias: float) -> np.ndarray:
        write_weight(target, EVIDENCE_WEIGHT_SUFFIX, kernel * kernel_scale)
        write_weight(target, EVIDENCE_BIAS_SUFFIX, np.array([bias]))
        return ReferenceModel(target).predict(probe)[1].mean(axis=(1, 2, 3))

    # The calibrated logit is affine in the layer's kernel scale and bias: measure it, then solve for both.
    offset = logits(0.0, 0.0)[0]
    per_bias = logits(0.0, 1.0)[0] - offset
    per_kernel = logits(1.0, 0.0) - offset
    scale = SPREAD_LOGIT / np.abs(per_kernel).mean()
    logits(scale, -(scale * per_kernel.mean() + offset) / per_bias)
    metadata = json.loads((target / "metadata.json").read_text())
    metadata["version"] = "npr-test-spread"
    (target / "metadata.json").write_text(json.dumps(metadata))
    return target


def log_in(
    page, url: str, backend: str | None = "wasm", path: str = "/", username: str = USERNAME, password: str = PASSWORD
) -> None:
    """Logs alice in and lands on `path`; on the analyser, waits until the model is loaded (`?backend=`
    forces an engine)."""
    target = path + (f"?backend={backend}" if backend and path == "/" else "")
    page.goto(f"{url}/login?next={urllib.request.quote(target)}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{target}", timeout=MODEL_READY_TIMEOUT_MS)
    if path == "/":
        wait_until_ready(page)


def wait_until_ready(page) -> None:
    page.locator("body[data-ready=true]").wait_for(state="attached", timeout=MODEL_READY_TIMEOUT_MS)


def wait_for_results(page, count: int) -> None:
    """Waits until `count` result cards are finished (saved, queued or failed)."""
    page.locator(".result-card[data-state]").nth(count - 1).wait_for(state="attached", timeout=RESULT_TIMEOUT_MS)


def pattern_clip(
    target: Path,
    *,
    size: str,
    rate: int,
    seconds: float,
    encoder: Sequence[str],
    pattern: str = "testsrc",
    face: Path | None = None,
    face_input: Sequence[str] = (),
    overlay: str = "[0][1]overlay=80:40",
) -> Path:
    """A clip of one of ffmpeg's test patterns (`size` "WxH", `rate` frames a second), with the picture `face`
    laid over it by the filter graph `overlay` (its input options in `face_input`), encoded with the `encoder`
    options in yuv420p, which every browser decodes."""
    with_face = [*face_input, "-i", str(face), "-filter_complex", overlay] if face else []
    command = [shutil.which("ffmpeg") or "ffmpeg", "-v", "error", "-y", "-f", "lavfi"]
    command += ["-i", f"{pattern}=size={size}:rate={rate}", *with_face, "-t", str(seconds)]
    subprocess.run([*command, *encoder, "-pix_fmt", "yuv420p", str(target)], check=True)
    return target


def smooth_image(width: int, height: int, seed: int) -> np.ndarray:
    """A photo-like RGB test picture: smooth colour fields plus a little noise (not white noise)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (max(2, height // 40), max(2, width // 40), 3)).astype(np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
    noise = rng.normal(0, 6, (height, width, 3))
    return np.clip(field + noise, 0, 255).astype(np.uint8)


class RequestRecorder:
    """Every request the browser context makes (page, workers, service worker): URL and body."""

    def __init__(self, context) -> None:
        self.requests: list[tuple[str, bytes]] = []
        context.on("request", lambda request: self.requests.append((request.url, request.post_data_buffer or b"")))

    def posts_to(self, path: str) -> list[bytes]:
        return [body for url, body in self.requests if url.split("?")[0].endswith(path) and body]

    def assert_nothing_carries(self, files: list[Path], names_allowed: bool = False) -> None:
        """Fails if any URL or body holds a slice of a file's bytes, of its base64 or hex encoding, or (unless
        allowed) its file name."""
        for path in files:
            needles = _encodings(path.read_bytes())
            if not names_allowed:
                needles.append(path.name.encode())
            for url, body in self.requests:
                haystack = url.encode() + b"\n" + body
                for needle in needles:
                    assert needle not in haystack, f"{url} carries part of {path.name}: {needle[:40]!r}"


def _encodings(data: bytes, slice_length: int = 48) -> list[bytes]:
    """Distinctive slices of a file as raw bytes, base64 (standard and URL-safe, every alignment) and hex."""
    import base64

    starts = sorted({len(data) // 5, len(data) // 2, max(0, len(data) - slice_length - 7)})
    slices = [data[start : start + slice_length] for start in starts if data[start : start + slice_length]]
    needles = list(slices)
    for piece in slices:
        for shift in range(3):
            encoded = base64.b64encode(piece[shift:])[4:-4]
            needles += [encoded, encoded.replace(b"+", b"-").replace(b"/", b"_")]
        needles.append(piece.hex().encode())
    return needles

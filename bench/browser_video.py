"""Browser benchmark: video frames judged per second on the video page, in headless Debian Chromium.

A 1080p clip (ffmpeg `testsrc2`, 1920x1080, 30 fps, DURATION_S seconds, VP9 or VP8 in WebM) with a face
(FACE_SIDE px, sliding across the picture) is analysed end to end by the real page: seek, frame copy
(createImageBitmap of the 1920x1080 frame), thumbnail, face detection (web/js/faces.js: the BlazeFace pyramid),
the face's crop and Pillow-exact resize to 128x128, and inference, in the classifier worker.
It prints frames per second over the frame loop (the page's own timing), the split between waiting for
the decoder, the classifier round trip and the face detection inside it, and the wall time from choosing the
file to the saved verdict (which also covers opening the file and its SHA-256).

Run: .venv/bin/python bench/browser_video.py [--codec vp9|vp8] [--rate 2] [--backends wasm] [--runs 2] [--face F]
The face is the first generated face of ../shared/data (beside the project) unless --face names a picture.
It starts the real server (`unmask serve`) with the shipped model on a free port and a throw-away instance.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from e2e_support import (  # noqa: E402  (the end-to-end tests' server and browser helpers)
    SHIPPED_MODEL,
    launched_chromium,
    log_in,
    pattern_clip,
    running_server,
    wait_until_ready,
)

DURATION_S = 20
SIZE = "1920x1080"
FACE_SIDE = 400
# Pixels per second the face slides to the right, from FACE_LEFT (so that its crop moves across the frame).
FACE_SPEED = 60
FACE_LEFT = 200
FACE_TOP = 340
DEFAULT_FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "generated-photos" / "Deepfake"
CODECS = {
    "vp9": ["-c:v", "libvpx-vp9", "-b:v", "4M", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1"],
    "vp8": ["-c:v", "libvpx", "-b:v", "4M", "-deadline", "realtime", "-cpu-used", "8"],
}
FINISHED = "() => ['no-face', 'saved', 'queued', 'failed', 'cancelled'].includes(document.getElementById('analysis').dataset.state)"
TIMEOUT_MS = 600_000


def make_clip(folder: Path, codec: str, face: Path) -> Path:
    overlay = (
        f"[1:v]scale={FACE_SIDE}:{FACE_SIDE}[face];"
        f"[0:v][face]overlay=x='{FACE_LEFT}+t*{FACE_SPEED}':y={FACE_TOP}:shortest=1"
    )
    return pattern_clip(
        folder / f"testsrc2-face-1080p-{codec}.webm",
        pattern="testsrc2",
        size=SIZE,
        rate=30,
        seconds=DURATION_S,
        encoder=CODECS[codec],
        face=face,
        face_input=["-loop", "1"],
        overlay=overlay,
    )


def default_face() -> Path | None:
    """The first generated face of the shared data set, if it is there."""
    return min(DEFAULT_FACES.iterdir()) if DEFAULT_FACES.is_dir() else None


def open_video_page(browser, url: str, backend: str):
    """A logged-in /video page with the model loaded."""
    context = browser.new_context(service_workers="block")
    page = context.new_page()
    log_in(page, url, backend=None, path=f"/video?backend={backend}")
    wait_until_ready(page)
    return context, page


def measure(browser, url: str, clip: Path, backend: str, rate: float, runs: int) -> dict:
    context, page = open_video_page(browser, url, backend)
    try:
        page.fill("#rate", str(rate))
        results = []
        for _ in range(runs):
            start = time.perf_counter()
            page.set_input_files("#file", str(clip))
            page.wait_for_function(FINISHED, timeout=TIMEOUT_MS)
            wall_s = time.perf_counter() - start
            state = page.locator("#analysis").get_attribute("data-state")
            if state not in ("saved", "queued"):
                return {"backend": backend, "error": page.locator("#status").inner_text()}
            timing = page.locator("#result").evaluate("(element) => ({ ...element.dataset })")
            frames = page.locator("#frame-table tbody tr").count()
            results.append(
                {
                    "frames": frames,
                    "judged": int(timing["judged"]),
                    "fps": frames / (float(timing["elapsedMs"]) / 1000),
                    "decode_ms": float(timing["decodeMs"]) / frames,
                    "classify_ms": float(timing["classifyMs"]) / frames,
                    "detect_ms": float(timing["detectMs"]) / frames,
                    "wall_s": wall_s,
                    "engine": page.locator("#engine").inner_text(),
                }
            )
        best = max(results, key=lambda result: result["fps"])
        return {
            "backend": backend,
            "frames": best["frames"],
            "judged": best["judged"],
            "fps_median": statistics.median(result["fps"] for result in results),
            "fps_best": best["fps"],
            "decode_ms": statistics.median(result["decode_ms"] for result in results),
            "classify_ms": statistics.median(result["classify_ms"] for result in results),
            "detect_ms": statistics.median(result["detect_ms"] for result in results),
            "wall_s": statistics.median(result["wall_s"] for result in results),
            "engine": best["engine"],
        }
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", choices=sorted(CODECS), default="vp9")
    parser.add_argument("--rate", type=float, default=2.0, help="frames sampled per second of video")
    parser.add_argument("--backends", nargs="+", default=["wasm"])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--face", type=Path, default=default_face(), help="a face picture to put in the clip")
    args = parser.parse_args()
    if args.face is None or not args.face.is_file():
        parser.error(f"a face picture is needed: --face PATH (none found in {DEFAULT_FACES})")
    with tempfile.TemporaryDirectory(prefix="unmask-bench-video-") as scratch:
        clip = make_clip(Path(scratch), args.codec, args.face)
        size_mb = clip.stat().st_size / 1e6
        with running_server(Path(scratch) / "instance", SHIPPED_MODEL) as server, launched_chromium() as browser:
            rows = [measure(browser, server.url, clip, backend, args.rate, args.runs) for backend in args.backends]
    print(
        f"Clip: {SIZE} {args.codec.upper()} WebM, {DURATION_S} s, {size_mb:.1f} MB, one {FACE_SIDE} px face; "
        f"{args.rate:g} frames sampled per second."
    )
    header = [
        "backend",
        "frames",
        "with a face",
        "frames/s (median)",
        "frames/s (best)",
        "decode wait ms/frame",
        "classify ms/frame",
        "of which detection",
        "file to verdict s",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        if "error" in row:
            print(f"| {row['backend']} | failed: {row['error']} |" + " |" * (len(header) - 2))
            continue
        print(
            f"| {row['backend']} | {row['frames']} | {row['judged']} | {row['fps_median']:.2f} | {row['fps_best']:.2f} | "
            f"{row['decode_ms']:.1f} | {row['classify_ms']:.1f} | {row['detect_ms']:.1f} | {row['wall_s']:.1f} |"
        )
    for row in rows:
        if "engine" in row:
            print(f"{row['backend']}: {row['engine']}")


if __name__ == "__main__":
    main()

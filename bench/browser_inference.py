"""Browser benchmark: per TF.js backend in headless Debian Chromium on this machine,

- model load time, cold (fresh browser profile) and from cache (second load in the same profile),
- model inference per image, median and p95 over RUNS predictions after warm-up,
- finding faces in a 12-megapixel JPEG with 1 and with 5 faces (drawn faces the detector finds): the worker's
  whole analysis and its stages (decode, reading the pixels, reduce + pyramid, detector windows, window inputs
  and decoding, judging every face), medians of E2E_RUNS, also with one wasm thread,
- end to end: from choosing that JPEG to the verdict on screen (median of E2E_RUNS),
- inference and faces on wasm with exactly one thread (a browser without cross-origin isolation, the slowest case).

Run: .venv/bin/python bench/browser_inference.py [--backends wasm webgl cpu] [--runs 50]
It starts the real server (`unmask serve`) with the shipped model on a free port and a throw-away instance.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "tests" / "e2e"), str(REPO_ROOT)]
from e2e_support import (  # noqa: E402  (the end-to-end tests' server and browser helpers)
    SHIPPED_MODEL,
    launched_chromium,
    log_in,
    running_server,
    smooth_image,
    wait_until_ready,
)

from tests.faces_support import drawn_face  # noqa: E402

RUNS = 50
E2E_RUNS = 3
TWELVE_MEGAPIXELS = (4000, 3000)
FACE_COUNTS = (1, 5)

LOAD = """async (backend) => {
  const { Classifier } = await import('/js/classifier.js');
  const classifier = new Classifier();
  const start = performance.now();
  try {
    const loaded = await classifier.load({ backend });
    return { ms: performance.now() - start, backend: loaded.backend };
  } catch (error) {
    return { error: error.message };
  } finally {
    classifier.worker.terminate();
  }
}"""

INFERENCE = """async ({ backend, runs }) => {
  const { Classifier } = await import('/js/classifier.js');
  const classifier = new Classifier();
  await classifier.load({ backend });
  const canvas = new OffscreenCanvas(224, 224);
  canvas.getContext('2d').fillRect(0, 0, 112, 112);
  const image = await canvas.convertToBlob({ type: 'image/png' });
  const times = [];
  for (let i = 0; i < runs; i++) times.push((await classifier.classify(image, { whole: true })).inferenceMs);
  classifier.worker.terminate();
  return times;
}"""

FACES = """async ({ backend, data, runs }) => {
  const { Classifier } = await import('/js/classifier.js');
  const classifier = new Classifier();
  await classifier.load({ backend });
  const image = new Blob([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], { type: 'image/jpeg' });
  const results = [];
  for (let i = 0; i < runs; i++) {
    const { faces, detectMs, detectTiming, totalMs } = await classifier.classify(image);
    results.push({ faces: faces.length, detectMs, totalMs, ...detectTiming });
  }
  classifier.worker.terminate();
  return results;
}"""

# The page has finished every card (overview drawn, verdict log saved): the next file is not queued behind them.
BATCH_DONE = "() => document.getElementById('batch-status').textContent.startsWith('Analysed')"

# Starts the clock when the file input changes and stops it when the verdict text appears.
ARM_TIMER = """() => {
  window.benchDone = new Promise((resolve) => {
    const input = document.getElementById('files');
    input.addEventListener('change', () => {
      const start = performance.now();
      const before = document.querySelectorAll('.verdict:not(:empty)').length;
      const observer = new MutationObserver(() => {
        if (document.querySelectorAll('.verdict:not(:empty)').length > before) {
          observer.disconnect();
          resolve(performance.now() - start);
        }
      });
      observer.observe(document.getElementById('results'), { subtree: true, childList: true, characterData: true });
    }, { once: true, capture: true });
  });
}"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def stage_breakdown(results: list[dict]) -> str:
    """The worker's analysis split into stages, medians over `results` (the worker's `detectTiming`s)."""
    stages = {
        "decode": [r["decodeMs"] for r in results],
        "pixels": [r["pixelsMs"] for r in results],
        "reduce+pyramid": [r["pyramidMs"] - r["pixelsMs"] for r in results],
        f"{results[0]['windows']} windows": [r["detectorMs"] for r in results],
        "window inputs+decoding": [r["detectMs"] - r["pyramidMs"] - r["detectorMs"] - r["judgeMs"] for r in results],
        "judging faces": [r["judgeMs"] for r in results],
    }
    return ", ".join(f"{name} {statistics.median(times):.0f}" for name, times in stages.items())


def measure_faces(page, backend: str, jpegs: dict[int, Path], label: str = "") -> dict[int, dict]:
    """Finding and judging the faces of each JPEG in the worker, E2E_RUNS times: medians, stage by stage."""
    faces = {}
    for count, jpeg in jpegs.items():
        data = base64.b64encode(jpeg.read_bytes()).decode()
        found = page.evaluate(FACES, {"backend": backend, "data": data, "runs": E2E_RUNS})
        analysis_ms = statistics.median(r["totalMs"] for r in found)
        print(
            f"{label or backend}, {count} face(s): analysis {analysis_ms:.0f} ms (ms: {stage_breakdown(found)})",
            flush=True,
        )
        faces[count] = {
            "found": found[0]["faces"],
            "detect_ms": statistics.median(r["detectMs"] for r in found),
            "analysis_ms": analysis_ms,
        }
    return faces


def measure_backend(browser, url: str, backend: str, jpegs: dict[int, Path], runs: int) -> dict:
    context = browser.new_context()
    page = context.new_page()
    try:
        log_in(page, url, path="/account")  # a signed-in page that loads no model
        cold = page.evaluate(LOAD, backend)
        if "error" in cold:
            return {"backend": backend, "error": cold["error"]}
        cached = page.evaluate(LOAD, backend)
        times = page.evaluate(INFERENCE, {"backend": backend, "runs": runs + 1})[1:]  # first = warm-up check
        faces = measure_faces(page, backend, jpegs)
        page.goto(f"{url}/?backend={backend}")
        wait_until_ready(page)
        for count, jpeg in jpegs.items():
            end_to_end = []
            for _ in range(E2E_RUNS):
                page.evaluate(ARM_TIMER)
                page.set_input_files("#files", str(jpeg))
                end_to_end.append(page.evaluate("() => window.benchDone"))
                page.wait_for_function(BATCH_DONE)  # the next run starts on an idle page
            faces[count]["end_to_end_ms"] = statistics.median(end_to_end)
        return {
            "backend": cold["backend"],
            "load_cold_ms": cold["ms"],
            "load_cached_ms": cached["ms"],
            "inference_median_ms": statistics.median(times),
            "inference_p95_ms": percentile(times, 0.95),
            "runs": len(times),
            "faces": faces,
        }
    finally:
        context.close()


def measure_one_thread(browser, url: str, jpegs: dict[int, Path], runs: int) -> str:
    """Inference and faces on wasm with one thread: the page is served without COOP/COEP, so it is not
    cross-origin isolated and the worker gets no SharedArrayBuffer, hence no wasm threads (as in a browser
    without them)."""
    context = browser.new_context()

    def without_isolation(route) -> None:
        response = route.fetch()
        headers = {
            key: value
            for key, value in response.headers.items()
            if key.lower() not in ("cross-origin-opener-policy", "cross-origin-embedder-policy")
        }
        route.fulfill(response=response, headers=headers)

    context.route("**/*", without_isolation)
    page = context.new_page()
    try:
        log_in(page, url, path="/account")
        isolated = page.evaluate("() => self.crossOriginIsolated")
        loaded = page.evaluate(LOAD, "wasm")
        times = page.evaluate(INFERENCE, {"backend": "wasm", "runs": runs + 1})[1:]
        measure_faces(page, "wasm", jpegs, label="wasm, 1 thread")
    finally:
        context.close()
    return (
        f"{loaded.get('backend', loaded)} (cross-origin isolated: {isolated}): inference median "
        f"{statistics.median(times):.1f} ms, p95 {percentile(times, 0.95):.1f} ms over {len(times)} runs"
    )


def print_table(rows: list[dict]) -> None:
    header = ["backend", "load cold ms", "load cached ms", "inference median ms", "inference p95 ms", "runs"]
    for count in FACE_COUNTS:
        header += [f"{count} face(s): found", "detector ms", "analysis ms", "choice to verdict ms"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        if "error" in row:
            print(f"| {row['backend']} | unavailable: {row['error']} |" + " |" * (len(header) - 2))
            continue
        cells = [
            row["backend"],
            row["load_cold_ms"],
            row["load_cached_ms"],
            row["inference_median_ms"],
            row["inference_p95_ms"],
            row["runs"],
        ]
        for count in FACE_COUNTS:
            faces = row["faces"][count]
            cells += [faces["found"], faces["detect_ms"], faces["analysis_ms"], faces["end_to_end_ms"]]
        print("| " + " | ".join(f"{cell:.1f}" if isinstance(cell, float) else str(cell) for cell in cells) + " |")


def twelve_megapixel_photo(path: Path, faces: int) -> Path:
    """A 12-megapixel JPEG with `faces` drawn faces of 500 px spread across it."""
    picture = Image.fromarray(smooth_image(*TWELVE_MEGAPIXELS, seed=12))
    for index in range(faces):
        picture.paste(drawn_face(500, seed=index), (200 + 750 * index, 400 + 300 * (index % 2)))
    picture.save(path, quality=90)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["wasm", "webgl", "cpu"])
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="unmask-bench-") as scratch:
        jpegs = {
            count: twelve_megapixel_photo(Path(scratch) / f"twelve-megapixels-{count}.jpg", count)
            for count in FACE_COUNTS
        }
        with running_server(Path(scratch) / "instance", SHIPPED_MODEL) as server, launched_chromium() as browser:
            rows = [measure_backend(browser, server.url, backend, jpegs, args.runs) for backend in args.backends]
            one_thread = measure_one_thread(browser, server.url, jpegs, args.runs)
    print_table(rows)
    print(one_thread)


if __name__ == "__main__":
    main()

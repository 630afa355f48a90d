"""Browser benchmark: the time the provenance reader (web/js/provenance.js: exifr for EXIF/XMP/IPTC, plus
PNG text chunks and JPEG comments) takes per picture in headless Debian Chromium, for each provenance
test case (tests/e2e/provenance_fixtures.py, and a C2PA-signed JPEG and its tampered copy from
tests/e2e/c2pa_fixtures.py) at two sizes, next to the whole analysis of the same file
(the classifier worker's classify: decoding, hashing, reading, inference). The worker runs the reader
beside decoding and hashing, so the reader's time is an upper bound on what it adds to an analysis.

Run: .venv/bin/python bench/provenance_reader.py [--runs 30] [--analysis-runs 5] [--sizes 320 3464]
It starts the real server (`unmask serve`) with the shipped model on a free port and a throw-away instance.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from c2pa_fixtures import sign_file, tamper  # noqa: E402
from e2e_support import SHIPPED_MODEL, launched_chromium, log_in, running_server, smooth_image  # noqa: E402
from PIL import Image  # noqa: E402
from provenance_fixtures import write_provenance_files  # noqa: E402

RUNS = 30
ANALYSIS_RUNS = 5
SIZES = (320, 3464)  # 3464 x 3464 is 12 megapixels
BENCH_INPUT = "bench-files"

ADD_INPUT = f"""() => {{
  const input = Object.assign(document.createElement('input'), {{ type: 'file', id: '{BENCH_INPUT}', multiple: true }});
  document.body.append(input);
}}"""

# A module worker (like the classifier's) that reads a file `runs` times after one first read and answers the
# times: the C2PA reader needs a worker (it reads Blobs synchronously).
READER_WORKER = """
import { readProvenance } from '%s/js/provenance.js';
self.onmessage = async ({ data: { file, runs } }) => {
  const first = await readProvenance(file);
  const ms = [];
  for (let i = 0; i < runs; i++) ms.push((await readProvenance(file)).readMs);
  self.postMessage({ kind: first.kind, problem: first.problem, firstMs: first.readMs, ms });
};
"""

# Reads every chosen file in that worker, then analyses it `analysisRuns` times in the classifier worker
# (wasm); answers the times by file name.
READ = f"""async ({{ runs, analysisRuns, source }}) => {{
  const reader = new Worker(URL.createObjectURL(new Blob([source], {{ type: 'text/javascript' }})), {{ type: 'module' }});
  const read = (file) => new Promise((resolve) => {{
    reader.onmessage = ({{ data }}) => resolve(data);
    reader.postMessage({{ file, runs }});
  }});
  const {{ Classifier }} = await import('/js/classifier.js');
  const classifier = new Classifier();
  await classifier.load({{ backend: 'wasm' }});
  const times = {{}};
  for (const file of document.getElementById('{BENCH_INPUT}').files) {{
    times[file.name] = {{ ...(await read(file)), analysisMs: [] }};
    await classifier.classify(file);
    for (let i = 0; i < analysisRuns; i++) {{
      const start = performance.now();
      await classifier.classify(file);
      times[file.name].analysisMs.push(performance.now() - start);
    }}
  }}
  classifier.worker.terminate();
  reader.terminate();
  return times;
}}"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--analysis-runs", type=int, default=ANALYSIS_RUNS)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "instance").mkdir()
        cases: list[tuple[int, Path]] = []
        for size in args.sizes:
            folder = root / str(size)
            folder.mkdir()
            cases += [(size, path) for path in write_provenance_files(folder, size).values()]
            Image.fromarray(smooth_image(size, size, 29)).save(folder / "plain.jpg", quality=90)
            sign_file(folder / "plain.jpg", folder / "c2pa.jpg")
            tamper(folder / "c2pa.jpg", folder / "c2pa_tampered.jpg")
            cases += [(size, folder / "c2pa.jpg"), (size, folder / "c2pa_tampered.jpg")]
        with running_server(root / "instance", SHIPPED_MODEL) as server, launched_chromium() as browser:
            page = browser.new_page()
            log_in(page, server.url)
            print(
                f"provenance reader: {args.runs} reads per file after one warm-up; whole analysis (wasm): "
                f"{args.analysis_runs} runs after one warm-up (headless Chromium); 'first' is the first read in a fresh "
                "worker, for the first signed file with the loading of the C2PA WebAssembly"
            )
            print(
                f"{'file':<18} {'size':>9} {'MB':>6} {'kind':<18} {'first':>8} {'read median':>11} {'read p95':>8} "
                f"{'analysis median':>15}"
            )
            page.evaluate(ADD_INPUT)
            for size in args.sizes:
                files = [path for case_size, path in cases if case_size == size]
                page.set_input_files(f"#{BENCH_INPUT}", [str(path) for path in files])
                source = READER_WORKER % server.url
                times = page.evaluate(READ, {"runs": args.runs, "analysisRuns": args.analysis_runs, "source": source})
                for path in files:
                    result = times[path.name]
                    if result["problem"]:
                        print(f"{path.name}: {result['problem']}")
                    megabytes = path.stat().st_size / 1e6
                    print(
                        f"{path.name:<18} {f'{size}x{size}':>9} {megabytes:>6.2f} {result['kind']:<18} "
                        f"{result['firstMs']:>5.0f} ms "
                        f"{statistics.median(result['ms']):>8.1f} ms {percentile(result['ms'], 0.95):>5.1f} ms "
                        f"{statistics.median(result['analysisMs']):>12.0f} ms"
                    )


if __name__ == "__main__":
    main()

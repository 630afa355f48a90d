/**
 * The classifier: a module Web Worker that decodes, preprocesses and classifies images off the page's
 * main thread. Nothing here talks to the network except to fetch TF.js, its wasm files and the model.
 *
 * Messages in (each answered with the same `id`):
 *   {type: 'load', id, backend?, preferred?}  load the model; `backend` forces an engine, `preferred` (the
 *                                          one chosen last time) is used if it starts, otherwise the fastest
 *                                          available is measured and chosen. Sends {type: 'progress'} on the way.
 *   {type: 'classify', id, image, whole?}  `image` is a Blob (a file: decoded here, SHA-256 computed) or an
 *                                          ImageBitmap (e.g. a video frame: `createImageBitmap(videoElement)`,
 *                                          transferred). Every face is found and judged on its own; `whole`
 *                                          judges the picture itself instead (the user's choice when there is
 *                                          no face). Answers {type: 'result', id, result}; for a file,
 *                                          `result.provenance` is what the file says about itself (provenance.js).
 *   {type: 'provenance', id, image}       `image` is a video file: answers {type: 'provenance', id, provenance}
 *                                          with its Content Credentials (provenance.js readVideoProvenance).
 *   {type: 'preprocess', id, image}       test hook: answers {type: 'input', id, input} with the model input.
 * Failures answer {type: 'error', id, code, message}; `code` is one of ERROR_CODES' keys.
 */
import './tfjs-globals.js';
import '/vendor/tfjs/tf.min.js';
import '/vendor/tfjs/tf-backend-wasm.min.js';
import { DETECTOR_SIZE, detectorOutputs, findFaces } from './faces.js';
import { checkCard } from './model-card.js';
import { INPUT_SIZE, bitmapSource, decodeImage, resizeRegion, resizeToInput, toModelInput } from './preprocess.js';
import { readProvenance, readVideoProvenance } from './provenance.js';
import { webCryptoSha256 } from './video-hash.js';

const tf = globalThis.tf;

const MODEL_URL = '/model/model.json';
const METADATA_URL = '/model/metadata.json';
const DETECTOR_URL = '/vendor/faces/blazeface.json';
const WASM_PATH = '/vendor/tfjs/';
/**
 * wasm threads need SharedArrayBuffer, i.e. a cross-origin isolated page (the server sends COOP/COEP), and
 * blob: scripts, which the server allows for this worker alone.
 */
const WASM_THREADS = self.crossOriginIsolated;
/** Fastest first; only the ones registered in this build are tried. */
const BACKEND_PREFERENCE = ['webgpu', 'webgl', 'wasm', 'cpu'];
/** Timed predictions per backend when choosing by speed. */
const BACKEND_TRIALS = 3;
/** Magic numbers of formats people drop by mistake, for a clearer message than "cannot decode". */
const NOT_IMAGE_SIGNATURES = [
  { bytes: [0x25, 0x50, 0x44, 0x46], name: 'a PDF document' },
  { bytes: [0x50, 0x4b, 0x03, 0x04], name: 'a ZIP archive or office document' },
];
/** ISO base media brands of HEIC/HEIF photos (iPhones' default), which most browsers cannot decode. */
const HEIF_BRANDS = ['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1'];
const ERROR_CODES = {
  empty: 'The file is empty.',
  'not-image': 'This file is not an image.',
  'no-verdict': 'No verdict: there is nothing in this picture the model can judge.',
  undecodable:
    'This file could not be read as an image: it may be damaged, too large for this browser, or in a format it cannot open.',
  'not-loaded': 'The model is not loaded yet.',
  failed: 'The analysis failed.',
};

/**
 * Where an analysis's time went, in milliseconds (for benchmarks): decoding the file (with its hash and
 * provenance, in parallel), reading the picture's pixels, building the detector's pyramid (pixels included),
 * the detector's windows (and how many), judging the faces (crops and inference).
 * @typedef {{decodeMs: number, pixelsMs: number, pyramidMs: number, detectorMs: number, windows: number,
 *   judgeMs: number}} DetectTiming
 */

/** @type {{model: tf.GraphModel, detector: tf.GraphModel, metadata: import('./model-card.js').ModelCard, backend: string} | null} */
let classifier = null;
/** Messages are handled one at a time, in order. */
let queue = Promise.resolve();

/** A failure with a code the page can show. */
class ClassifierError extends Error {
  /** @param {keyof ERROR_CODES} code @param {string} [message] */
  constructor(code, message = ERROR_CODES[code]) {
    super(message);
    this.code = code;
  }
}

/**
 * Runs the model on one input and returns the probability and the evidence map.
 * @param {tf.GraphModel} model
 * @param {object} metadata
 * @param {Float32Array} input
 * @returns {Promise<{probability: number, evidence: Float32Array}>}
 */
async function predict(model, metadata, input) {
  const { probability, evidence } = metadata.outputs;
  const [probabilityTensor, evidenceTensor] = tf.tidy(() =>
    model.execute({ [metadata.input.name]: tf.tensor4d(input, metadata.input.shape) }, [probability.node, evidence.node]),
  );
  try {
    const [probabilityData, evidenceData] = await Promise.all([probabilityTensor.data(), evidenceTensor.data()]);
    return { probability: probabilityData[0], evidence: Float32Array.from(evidenceData) };
  } finally {
    tf.dispose([probabilityTensor, evidenceTensor]);
  }
}

/**
 * Median milliseconds of a few predictions on the current backend (the first, untimed, is the warm-up).
 * @param {tf.GraphModel} model
 * @param {object} metadata
 * @param {number} trials
 * @returns {Promise<number>}
 */
async function timePredictions(model, metadata, trials) {
  const input = new Float32Array(INPUT_SIZE * INPUT_SIZE * 3);
  await predict(model, metadata, input);
  const times = [];
  for (let i = 0; i < trials; i++) {
    const start = performance.now();
    await predict(model, metadata, input);
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(trials / 2)];
}

/**
 * Switches TF.js to a backend; false when it cannot start here.
 * @param {string} name
 * @returns {Promise<boolean>}
 */
async function trySetBackend(name) {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/**
 * The fastest of `candidates` over `trials` timed predictions (CPU only if nothing else ran), or null.
 * A backend can start and still fail on this model (a broken GPU driver, say): it is skipped.
 * @param {tf.GraphModel} model
 * @param {object} metadata
 * @param {string[]} candidates
 * @param {number} trials
 * @returns {Promise<{backend: string, medianMs: number, warmupMs: number} | null>}
 */
async function fastestBackend(model, metadata, candidates, trials) {
  let best = null;
  for (const name of candidates) {
    if (best && name === 'cpu') break;
    if (!(await trySetBackend(name))) continue;
    const start = performance.now();
    let medianMs;
    try {
      medianMs = await timePredictions(model, metadata, trials);
    } catch {
      continue;
    }
    if (!best || medianMs < best.medianMs) best = { backend: name, medianMs, warmupMs: performance.now() - start };
  }
  return best;
}

/**
 * Picks the backend: the forced one; else the preferred one if it runs; else the fastest of those that
 * run. The model is warmed up on the chosen backend before this returns.
 * @param {tf.GraphModel} model
 * @param {object} metadata
 * @param {{forced?: string, preferred?: string}} choice
 */
async function chooseBackend(model, metadata, { forced, preferred }) {
  const available = BACKEND_PREFERENCE.filter((name) => tf.findBackendFactory(name));
  const best = forced
    ? await fastestBackend(model, metadata, [forced], 0)
    : (preferred && (await fastestBackend(model, metadata, [preferred], 0))) ||
      (await fastestBackend(model, metadata, available, BACKEND_TRIALS));
  if (!best) {
    throw new ClassifierError('failed', `No TF.js backend could run the model (${forced ?? available.join(', ')}).`);
  }
  if (tf.getBackend() !== best.backend) {
    await tf.setBackend(best.backend);
    await timePredictions(model, metadata, 0);
  }
  return { backend: best.backend, warmupMs: best.warmupMs };
}

/**
 * Describes the running backend for the details line, e.g. "wasm (SIMD, 4 threads)".
 * @returns {string}
 */
function describeBackend() {
  const name = tf.getBackend();
  if (name !== 'wasm') return name;
  const features = [];
  if (tf.env().getBool('WASM_HAS_SIMD_SUPPORT')) features.push('SIMD');
  if (tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')) {
    const threads = tf.wasm.getThreadsCount();
    features.push(`${threads} thread${threads === 1 ? '' : 's'}`);
  }
  return features.length ? `wasm (${features.join(', ')})` : 'wasm';
}

/**
 * Loads the model and its metadata, reporting download progress, then chooses and warms up a backend.
 * @param {{forced?: string, preferred?: string}} choice
 * @param {(fraction: number) => void} onProgress
 */
async function load(choice, onProgress) {
  const start = performance.now();
  tf.wasm.setWasmPaths(WASM_PATH);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', WASM_THREADS);
  // Resolve the WASM_HAS_* flags now so that describeBackend() can read them synchronously.
  await Promise.all([tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'), tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')]);
  const response = await fetch(METADATA_URL);
  if (!response.ok) throw new ClassifierError('failed', `The model description could not be loaded (${response.status}).`);
  let metadata;
  try {
    metadata = checkCard(await response.json(), INPUT_SIZE);
  } catch (error) {
    throw new ClassifierError('failed', `The model cannot run on this page: ${error.message}`);
  }
  await trySetBackend(choice.forced ?? 'cpu');
  const [model, detector] = await Promise.all([
    tf.loadGraphModel(MODEL_URL, { onProgress }),
    tf.loadGraphModel(DETECTOR_URL),
  ]);
  const loadMs = performance.now() - start;
  const { backend, warmupMs } = await chooseBackend(model, metadata, choice);
  await detectorOutputs(tf, detector, new Float32Array(DETECTOR_SIZE * DETECTOR_SIZE * 3)); // warm-up on the chosen backend
  classifier = { model, detector, metadata, backend };
  return { metadata, backendName: backend, backend: describeBackend(), loadMs, warmupMs };
}

/**
 * Rejects files that cannot be images before handing them to the decoder.
 * @param {Blob} blob
 */
async function checkFile(blob) {
  if (blob.size === 0) throw new ClassifierError('empty');
  const head = new Uint8Array(await blob.slice(0, 8).arrayBuffer());
  const match = NOT_IMAGE_SIGNATURES.find(({ bytes }) => bytes.every((byte, i) => head[i] === byte));
  if (match) throw new ClassifierError('not-image', `This file is ${match.name}, not an image.`);
}

/**
 * Decodes a file, or passes an already decoded frame through.
 * @param {Blob | ImageBitmap} image
 * @returns {Promise<ImageBitmap>}
 */
async function toBitmap(image) {
  if (!(image instanceof Blob)) return image;
  await checkFile(image);
  try {
    return await decodeImage(image);
  } catch {
    throw new ClassifierError('undecodable', await describeUndecodable(image));
  }
}

/**
 * Why a file did not decode, where its first bytes tell: a HEIC photo, or text.
 * @param {Blob} blob
 * @returns {Promise<string>}
 */
async function describeUndecodable(blob) {
  const head = new Uint8Array(await blob.slice(0, 512).arrayBuffer());
  const text = String.fromCharCode(...head);
  if (text.slice(4, 8) === 'ftyp' && HEIF_BRANDS.includes(text.slice(8, 12))) {
    return 'This is a HEIC/HEIF photo, which this browser cannot open: export it as JPEG or PNG and try again.';
  }
  if (head.every((byte) => byte === 0x09 || byte === 0x0a || byte === 0x0d || byte >= 0x20)) {
    return 'This file is text, not an image.';
  }
  return ERROR_CODES.undecodable;
}

/**
 * Decodes and preprocesses an image judged whole: the exact model input plus the INPUT_SIZE RGB bytes it came from.
 * @param {Blob | ImageBitmap} image
 */
async function prepare(image) {
  const bitmap = await toBitmap(image);
  try {
    const rgb = resizeToInput(bitmap);
    return { rgb, input: toModelInput(rgb), width: bitmap.width, height: bitmap.height };
  } finally {
    bitmap.close();
  }
}

/**
 * The largest standard deviation of one colour channel over the INPUT_SIZE input: about 0 for a flat fill
 * of any colour, tens for a photo.
 * @param {Uint8Array} rgb interleaved R, G, B bytes
 * @returns {number}
 */
function pixelSpread(rgb) {
  const sums = [0, 0, 0];
  const squares = [0, 0, 0];
  for (let i = 0; i < rgb.length; i++) {
    sums[i % 3] += rgb[i];
    squares[i % 3] += rgb[i] * rgb[i];
  }
  const pixels = rgb.length / 3;
  return Math.max(...sums.map((sum, c) => Math.sqrt(Math.max(0, squares[c] / pixels - (sum / pixels) ** 2))));
}

/**
 * Refuses a still picture the model cannot judge: too small, or one flat colour (the card's
 * min_picture_side_px and min_pixel_spread). Below these the model has nothing to judge and would still
 * answer with a confident-looking number, so the picture gets no verdict at all (and no log).
 * @param {{rgb: Uint8Array, width: number, height: number}} prepared
 */
function checkJudgeable({ rgb, width, height }) {
  const { min_picture_side_px: minSide, min_pixel_spread: minSpread } = classifier.metadata;
  if (Math.min(width, height) < minSide) {
    throw new ClassifierError(
      'no-verdict',
      `No verdict: this picture is ${width}×${height} px; the model needs at least ${minSide} px on the shorter side.`,
    );
  }
  if (pixelSpread(rgb) < minSpread) {
    throw new ClassifierError('no-verdict', 'No verdict: the centre of this picture is one flat colour, with no face to judge.');
  }
}

/**
 * One face (or the whole picture) through the model.
 * @param {Uint8Array} rgb the INPUT_SIZE x INPUT_SIZE input's RGB bytes
 */
async function judge(rgb) {
  const start = performance.now();
  const { probability, evidence } = await predict(classifier.model, classifier.metadata, toModelInput(rgb));
  return { probability, evidence, rgb, inferenceMs: performance.now() - start };
}

/**
 * A pixel source that adds the time spent reading its pixels to `timing.pixelsMs`.
 * @param {import('./preprocess.js').PixelSource} source
 * @param {{pixelsMs: number}} timing
 * @returns {import('./preprocess.js').PixelSource}
 */
function timedSource(source, timing) {
  return {
    width: source.width,
    height: source.height,
    readStrip(...area) {
      const start = performance.now();
      try {
        return source.readStrip(...area);
      } finally {
        timing.pixelsMs += performance.now() - start;
      }
    },
  };
}

/**
 * Every face in a decoded picture, each judged on its square crop unless too small.
 * @param {ImageBitmap} bitmap
 * @param {DetectTiming} timing  added to, stage by stage
 */
async function judgeFaces(bitmap, timing) {
  const source = bitmapSource(bitmap);
  const found = await findFaces(
    timedSource(source, timing),
    async (input) => {
      const start = performance.now();
      const outputs = await detectorOutputs(tf, classifier.detector, input);
      timing.detectorMs += performance.now() - start;
      timing.windows++;
      return outputs;
    },
    timing,
  );
  const judgeStart = performance.now();
  const faces = [];
  for (const { box, score, crop } of found) {
    const face = { box, score, crop, tooSmall: crop.side < classifier.metadata.min_face_crop_px };
    if (!face.tooSmall) {
      const region = { left: crop.left, top: crop.top, right: crop.left + crop.side, bottom: crop.top + crop.side };
      Object.assign(face, await judge(resizeRegion(source, region, INPUT_SIZE, INPUT_SIZE)));
    }
    faces.push(face);
  }
  timing.judgeMs = performance.now() - judgeStart;
  return faces;
}

/**
 * The full analysis of one image: its faces, or (when asked) the picture itself. The picture's probability is
 * its most suspicious face's; null when nothing was judged (no face, or only faces too small).
 * A still file judged whole must be judgeable; video frames are all scored.
 * @param {Blob | ImageBitmap} image
 * @param {boolean} whole judge the picture itself, not its faces
 */
async function classify(image, whole) {
  if (!classifier) throw new ClassifierError('not-loaded');
  const start = performance.now();
  const isFile = image instanceof Blob;
  const [bitmap, hash, provenance] = await Promise.all([
    toBitmap(image),
    isFile ? webCryptoSha256(image) : null,
    isFile ? readProvenance(image) : null,
  ]);
  const { width, height } = bitmap;
  let faces = [];
  let picture = null;
  let detectMs = 0;
  /** @type {DetectTiming} */
  const timing = { decodeMs: performance.now() - start, pixelsMs: 0, pyramidMs: 0, detectorMs: 0, windows: 0, judgeMs: 0 };
  try {
    if (whole) {
      const rgb = resizeToInput(bitmap);
      if (isFile) checkJudgeable({ rgb, width, height });
      picture = await judge(rgb);
    } else {
      const detectStart = performance.now();
      faces = await judgeFaces(bitmap, timing);
      detectMs = performance.now() - detectStart;
    }
  } finally {
    bitmap.close();
  }
  const judged = picture ? [picture] : faces.filter((face) => !face.tooSmall);
  const top = judged.reduce((best, face) => (!best || face.probability > best.probability ? face : best), null);
  return {
    whole: Boolean(whole),
    faces,
    probability: top ? top.probability : null,
    evidence: top ? top.evidence : null,
    rgb: top ? top.rgb : null,
    width,
    height,
    sha256: hash,
    provenance,
    backend: describeBackend(),
    detectMs,
    detectTiming: timing,
    totalMs: performance.now() - start,
    inferenceMs: judged.reduce((sum, face) => sum + face.inferenceMs, 0),
  };
}

/**
 * The buffers a result can hand over to the page without copying (each face's input and evidence).
 * @param {Awaited<ReturnType<typeof classify>>} result
 * @returns {ArrayBuffer[]}
 */
function transferables(result) {
  const buffers = new Set();
  for (const face of result.faces) {
    if (face.rgb) buffers.add(face.rgb.buffer).add(face.evidence.buffer);
  }
  if (result.rgb) buffers.add(result.rgb.buffer).add(result.evidence.buffer);
  return [...buffers];
}

/**
 * Handles one message and posts its answer.
 * @param {{type: string, id: number, backend?: string, preferred?: string, image?: Blob | ImageBitmap, whole?: boolean}} message
 */
async function handle(message) {
  const { type, id } = message;
  try {
    if (type === 'load') {
      const onProgress = (fraction) => self.postMessage({ type: 'progress', id, fraction });
      const choice = { forced: message.backend, preferred: message.preferred };
      self.postMessage({ type: 'loaded', id, ...(await load(choice, onProgress)) });
    } else if (type === 'classify') {
      const result = await classify(message.image, message.whole);
      self.postMessage({ type: 'result', id, result }, transferables(result));
    } else if (type === 'provenance') {
      self.postMessage({ type: 'provenance', id, provenance: await readVideoProvenance(message.image) });
    } else if (type === 'preprocess') {
      const { input } = await prepare(message.image);
      self.postMessage({ type: 'input', id, input }, [input.buffer]);
    } else {
      throw new ClassifierError('failed', `Unknown message type ${type}.`);
    }
  } catch (error) {
    const code = error instanceof ClassifierError ? error.code : 'failed';
    self.postMessage({ type: 'error', id, code, message: error.message || ERROR_CODES.failed });
  } finally {
    // A transferred frame belongs to this worker: free it even when it was never decoded (e.g. 'not-loaded').
    if (message.image instanceof ImageBitmap) message.image.close();
  }
}

self.addEventListener('message', (event) => {
  queue = queue.then(() => handle(event.data));
});

// @ts-check
/**
 * Finding faces: the one definition, shared by the browser (classifier worker) and training (the same file
 * runs under Node for `training/faces.py`), so that training crops are the browser's crops.
 *
 * The detector is MediaPipe's BlazeFace "back camera" model (256x256 input, Apache-2.0 weights), as shipped
 * converted to TF.js in the npm package `@vladmandic/human` (MIT; its `models/blazeface.json`) and served by our
 * own server under /vendor/faces/.
 *
 *  1. A pyramid of the picture, each level half the size of the one before, the finest one at most
 *     FINEST_LEVEL_SIDE on its long side (every level is a Pillow-bilinear resize of the one before; the finest
 *     one of the picture itself, first box-reduced by a whole factor when it is more than twice as large, as
 *     Pillow's `reducing_gap` does: a 12-megapixel photo costs one cheap pass). Each level is scanned with
 *     256x256 windows that overlap by a quarter; one more level shows the whole picture shrunk into the middle
 *     of a window, for faces that fill the frame.
 *  2. BlazeFace scores its 896 anchors per window; detections that touch a window's inner edge are cut faces
 *     and dropped (an overlapping window or a coarser level sees them whole); the rest, mapped back to the
 *     picture, go through non-maximum suppression, which also drops a box that lies mostly inside a more
 *     confident one (a finer level's detection of part of a large face).
 *  3. Each face is looked at once more, in a window of its own: REFINE_SCALE times its box, centred on it,
 *     from the picture's own pixels. Its box then comes from the face seen at one scale, whatever pyramid
 *     level and window found it, so the same face gets nearly the same crop in any picture it stands in
 *     (the model reads the finest pixels: a crop a few pixels off can change its score).
 *  4. Each face's crop (what the classifier judges) is a square FACE_CROP_SCALE times the detector's box,
 *     centred on it, moved inside the picture, and shrunk only when the picture is smaller than the square.
 */
import { reduceByFactor, rgbSource, resizeRegion } from './preprocess.js';

export const DETECTOR_SIZE = 256;
/** Which detector, for the model card and caches: change it whenever detection or cropping changes. */
export const DETECTOR_VERSION = 'blazeface-back-256/score-0.8/pyramid-1024/refine-2.5/crop-1.8';
const FINEST_LEVEL_SIDE = 1024;
/** The whole picture, shrunk to this long side inside one window, for faces that fill the frame. */
const WHOLE_PICTURE_SIDE = 160;
/**
 * Windows overlap by a quarter: a face up to 64 px (in level pixels) is whole in one of them, and a larger one
 * is at least 32 px on the next coarser level, which BlazeFace finds.
 */
const WINDOW_STRIDE = (DETECTOR_SIZE * 3) / 4;
/** A detection closer than this to an inner window edge was cut by it. */
const EDGE_MARGIN = 2;
const MIN_SCORE = 0.8;
/** Most of a box's area inside another: the same face (or a part of it). */
const MAX_OVERLAP = 0.5;
/** Crop side over the detector box's longer side: the box covers brows to chin, the crop the whole head. */
const FACE_CROP_SCALE = 1.8;
/** Side of a face's refining window over its box's longer side: the face fills about 100 of its 256 px. */
const REFINE_SCALE = 2.5;
/** Detector anchors: a 16x16 grid with 2 per cell and an 8x8 grid with 6 per cell. */
const ANCHOR_GRIDS = [
  { stride: 16, perCell: 2 },
  { stride: 32, perCell: 6 },
];
/** Value of padding in the detector's [-1, 1] input: mid grey. */
const PADDING = 0;
/** Each byte value scaled to the detector's [-1, 1] input (as float32, what the input array stores). */
const NORMALISED = Float32Array.from({ length: 256 }, (_, value) => value / 127.5 - 1);

/**
 * @typedef {{left: number, top: number, width: number, height: number}} Box  in source pixels
 * @typedef {{box: Box, score: number, crop: {left: number, top: number, side: number}}} Face
 * @typedef {{width: number, height: number, rgb: Uint8Array}} RgbImage
 */

/** @returns {Float32Array} anchor centres (x, y) in window pixels, in the model's output order */
function makeAnchors() {
  const centres = [];
  for (const { stride, perCell } of ANCHOR_GRIDS) {
    const cells = DETECTOR_SIZE / stride;
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let n = 0; n < perCell; n++) centres.push((x + 0.5) * stride, (y + 0.5) * stride);
      }
    }
  }
  return Float32Array.from(centres);
}

const ANCHORS = makeAnchors();
const ANCHOR_COUNT = ANCHORS.length / 2;

/**
 * The long side scaled to `side`, the short side in proportion (rounded half up, in integers).
 * @param {number} width
 * @param {number} height
 * @param {number} side
 * @returns {{width: number, height: number}}
 */
function scaledSize(width, height, side) {
  const long = Math.max(width, height);
  const scale = (length) => Math.max(1, Math.floor((length * side + Math.floor(long / 2)) / long));
  return { width: scale(width), height: scale(height) };
}

/**
 * Level sizes of the pyramid, finest first: the finest at most FINEST_LEVEL_SIDE long (the picture's own size
 * when smaller), then halved while the long side exceeds one window.
 * @param {number} width
 * @param {number} height
 * @returns {{width: number, height: number}[]}
 */
function pyramidSizes(width, height) {
  let size = Math.max(width, height) > FINEST_LEVEL_SIDE ? scaledSize(width, height, FINEST_LEVEL_SIDE) : { width, height };
  const sizes = [size];
  while (Math.max(size.width, size.height) > DETECTOR_SIZE) {
    size = scaledSize(size.width, size.height, Math.ceil(Math.max(size.width, size.height) / 2));
    sizes.push(size);
  }
  return sizes;
}

/**
 * Window offsets along one axis: every WINDOW_STRIDE, the last one flush with the end.
 * @param {number} length
 * @returns {number[]}
 */
function windowOffsets(length) {
  if (length <= DETECTOR_SIZE) return [0];
  const offsets = [];
  for (let offset = 0; offset + DETECTOR_SIZE < length; offset += WINDOW_STRIDE) offsets.push(offset);
  offsets.push(length - DETECTOR_SIZE);
  return offsets;
}

/**
 * One detector input: a window of a level (or the whole level, centred, when it is smaller than a window),
 * scaled to [-1, 1], padded with mid grey.
 * @param {RgbImage} level
 * @param {number} x window's left edge in the level (negative: the level is centred in the window)
 * @param {number} y
 * @returns {Float32Array} DETECTOR_SIZE^2 * 3 values
 */
function windowInput(level, x, y) {
  const input = new Float32Array(DETECTOR_SIZE * DETECTOR_SIZE * 3).fill(PADDING);
  const firstRow = Math.max(0, -y);
  const firstColumn = Math.max(0, -x);
  const rows = Math.min(DETECTOR_SIZE, level.height - y) - firstRow;
  const columns = Math.min(DETECTOR_SIZE, level.width - x) - firstColumn;
  copyIntoInput(input, level.rgb, level.width, firstColumn, firstRow, rows, x + firstColumn, y + firstRow, columns);
  return input;
}

/**
 * Copies RGB rows into a detector input at (x, y), scaled to [-1, 1].
 * @param {Float32Array} input DETECTOR_SIZE^2 * 3 values
 * @param {Uint8Array} rgb
 * @param {number} width pixels per row of `rgb`
 * @param {number} x first column in the input
 * @param {number} y first row in the input
 * @param {number} rows
 * @param {number} [sourceX] first column to copy from `rgb`
 * @param {number} [sourceY] first row to copy from `rgb`
 * @param {number} [columns] pixels per row to copy
 */
function copyIntoInput(input, rgb, width, x, y, rows, sourceX = 0, sourceY = 0, columns = width) {
  const values = columns * 3;
  for (let row = 0; row < rows; row++) {
    let from = ((sourceY + row) * width + sourceX) * 3;
    let to = ((y + row) * DETECTOR_SIZE + x) * 3;
    for (let i = 0; i < values; i++) input[to++] = NORMALISED[rgb[from++]];
  }
}

/**
 * The share of the smaller box's area that lies inside the other box.
 * @param {Box} a
 * @param {Box} b
 * @returns {number}
 */
function overlap(a, b) {
  const width = Math.min(a.left + a.width, b.left + b.width) - Math.max(a.left, b.left);
  const height = Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top);
  if (width <= 0 || height <= 0) return 0;
  return (width * height) / Math.min(a.width * a.height, b.width * b.height);
}

/**
 * Keeps the best-scoring of every group of overlapping detections.
 * @param {{box: Box, score: number}[]} detections
 * @returns {{box: Box, score: number}[]}
 */
function suppressOverlaps(detections) {
  const kept = [];
  for (const detection of [...detections].sort((a, b) => b.score - a.score)) {
    if (kept.every((other) => overlap(other.box, detection.box) <= MAX_OVERLAP)) kept.push(detection);
  }
  return kept;
}

/**
 * Decodes one window's raw outputs into detections in the window's pixels.
 * @param {Float32Array} scores ANCHOR_COUNT raw logits
 * @param {Float32Array} boxes ANCHOR_COUNT x 16 regressions (centre x, centre y, width, height, keypoints)
 * @returns {{box: Box, score: number}[]}
 */
function decodeWindow(scores, boxes) {
  const detections = [];
  for (let i = 0; i < ANCHOR_COUNT; i++) {
    const score = 1 / (1 + Math.exp(-scores[i]));
    if (score < MIN_SCORE) continue;
    const centreX = ANCHORS[i * 2] + boxes[i * 16];
    const centreY = ANCHORS[i * 2 + 1] + boxes[i * 16 + 1];
    const width = boxes[i * 16 + 2];
    const height = boxes[i * 16 + 3];
    if (width <= 0 || height <= 0) continue;
    detections.push({ box: { left: centreX - width / 2, top: centreY - height / 2, width, height }, score });
  }
  return detections;
}

/**
 * Whether a detection touches an edge of its window that lies inside the level (a face cut by the window).
 * @param {Box} box in window pixels
 * @param {number} x window's left edge in the level
 * @param {number} y
 * @param {{width: number, height: number}} level
 * @returns {boolean}
 */
function cutByWindow(box, x, y, level) {
  return (
    (x > 0 && box.left < EDGE_MARGIN) ||
    (y > 0 && box.top < EDGE_MARGIN) ||
    (x + DETECTOR_SIZE < level.width && box.left + box.width > DETECTOR_SIZE - EDGE_MARGIN) ||
    (y + DETECTOR_SIZE < level.height && box.top + box.height > DETECTOR_SIZE - EDGE_MARGIN)
  );
}

/**
 * The square crop the classifier judges for a detector box (step 3), in whole source pixels.
 * @param {Box} box
 * @param {number} width picture width
 * @param {number} height picture height
 * @returns {{left: number, top: number, side: number}}
 */
function faceCrop(box, width, height) {
  const side = Math.max(1, Math.min(Math.round(Math.max(box.width, box.height) * FACE_CROP_SCALE), width, height));
  const clamp = (value, limit) => Math.min(Math.max(value, 0), limit);
  return {
    left: clamp(Math.round(box.left + box.width / 2 - side / 2), width - side),
    top: clamp(Math.round(box.top + box.height / 2 - side / 2), height - side),
    side,
  };
}

/**
 * A whole image resized (Pillow bilinear) to `size`.
 * @param {import('./preprocess.js').PixelSource} image
 * @param {{width: number, height: number}} size
 * @returns {RgbImage}
 */
function resized(image, size) {
  const whole = { left: 0, top: 0, right: image.width, bottom: image.height };
  return { ...size, rgb: resizeRegion(image, whole, size.width, size.height) };
}

/**
 * A level's pixels as a pixel source, to resize it again.
 * @param {RgbImage} level
 * @returns {import('./preprocess.js').PixelSource}
 */
function levelSource(level) {
  return rgbSource(level.rgb, level.width, level.height);
}

/**
 * The pyramid levels' pixels, finest first (step 1): the finest of the picture itself (box-reduced first when
 * over twice as large), each further one of the level before, then the coarsest shrunk into one window.
 * @param {import('./preprocess.js').PixelSource} picture
 * @returns {RgbImage[]}
 */
function pyramid(picture) {
  const [finest, ...coarser] = pyramidSizes(picture.width, picture.height);
  const factor = Math.floor(picture.width / finest.width);
  const levels = [resized(factor >= 2 ? levelSource(reduceByFactor(picture, factor)) : picture, finest)];
  for (const size of coarser) levels.push(resized(levelSource(levels[levels.length - 1]), size));
  const coarsest = levels[levels.length - 1];
  levels.push(resized(levelSource(coarsest), scaledSize(coarsest.width, coarsest.height, WHOLE_PICTURE_SIDE)));
  return levels;
}

/**
 * A face's refining window (step 3): a square REFINE_SCALE times the box's longer side, centred on it, resized
 * from the picture's own pixels (Pillow bilinear) to the detector's input; what lies outside the picture is mid
 * grey. Null when the window holds less than one of its pixels of the picture.
 * @param {import('./preprocess.js').PixelSource} picture
 * @param {Box} box
 * @returns {{input: Float32Array, left: number, top: number, scale: number} | null} the input, and where the
 *   window lies in the picture (scale: picture pixels per window pixel)
 */
function refiningWindow(picture, box) {
  const side = Math.max(box.width, box.height) * REFINE_SCALE;
  const scale = side / DETECTOR_SIZE;
  const left = box.left + box.width / 2 - side / 2;
  const top = box.top + box.height / 2 - side / 2;
  // The window's pixels that lie wholly inside the picture.
  const x0 = Math.max(0, Math.ceil(-left / scale));
  const y0 = Math.max(0, Math.ceil(-top / scale));
  const x1 = Math.min(DETECTOR_SIZE, Math.floor((picture.width - left) / scale));
  const y1 = Math.min(DETECTOR_SIZE, Math.floor((picture.height - top) / scale));
  if (x1 <= x0 || y1 <= y0) return null;
  const region = { left: left + x0 * scale, top: top + y0 * scale, right: left + x1 * scale, bottom: top + y1 * scale };
  const input = new Float32Array(DETECTOR_SIZE * DETECTOR_SIZE * 3).fill(PADDING);
  copyIntoInput(input, resizeRegion(picture, region, x1 - x0, y1 - y0), x1 - x0, x0, y0, y1 - y0);
  return { input, left, top, scale };
}

/**
 * A detection's box as the detector sees the face in its refining window: the most confident detection whose
 * centre lies inside the first box (the same face); the first box when there is none.
 * @param {import('./preprocess.js').PixelSource} picture
 * @param {{box: Box, score: number}} detection
 * @param {(input: Float32Array) => Promise<{scores: Float32Array, boxes: Float32Array}>} runDetector
 * @returns {Promise<{box: Box, score: number}>}
 */
async function refine(picture, detection, runDetector) {
  const window = refiningWindow(picture, detection.box);
  if (!window) return detection;
  const { scores, boxes } = await runDetector(window.input);
  const halfWidth = detection.box.width / 2 / window.scale;
  const halfHeight = detection.box.height / 2 / window.scale;
  let best = null;
  for (const candidate of decodeWindow(scores, boxes)) {
    const offsetX = candidate.box.left + candidate.box.width / 2 - DETECTOR_SIZE / 2;
    const offsetY = candidate.box.top + candidate.box.height / 2 - DETECTOR_SIZE / 2;
    if (Math.abs(offsetX) > halfWidth || Math.abs(offsetY) > halfHeight) continue;
    if (!best || candidate.score > best.score) best = candidate;
  }
  if (!best) return detection;
  const { box } = best;
  return {
    score: detection.score,
    box: {
      left: window.left + box.left * window.scale,
      top: window.top + box.top * window.scale,
      width: box.width * window.scale,
      height: box.height * window.scale,
    },
  };
}

/**
 * Every face in a picture, most confident first.
 * @param {import('./preprocess.js').PixelSource} picture
 * @param {(input: Float32Array) => Promise<{scores: Float32Array, boxes: Float32Array}>} runDetector
 *   one window through BlazeFace (see `detectorOutputs`)
 * @param {{pyramidMs?: number}} [timing] filled in: the time spent on the pyramid's pixels (for benchmarks)
 * @returns {Promise<Face[]>}
 */
export async function findFaces(picture, runDetector, timing = {}) {
  const detections = [];
  const start = performance.now();
  const levels = pyramid(picture);
  timing.pyramidMs = performance.now() - start;
  for (const level of levels) {
    const small = level.width <= DETECTOR_SIZE && level.height <= DETECTOR_SIZE;
    const xs = small ? [-Math.floor((DETECTOR_SIZE - level.width) / 2)] : windowOffsets(level.width);
    const ys = small ? [-Math.floor((DETECTOR_SIZE - level.height) / 2)] : windowOffsets(level.height);
    const scale = picture.width / level.width;
    for (const y of ys) {
      for (const x of xs) {
        const { scores, boxes } = await runDetector(windowInput(level, x, y));
        for (const { box, score } of decodeWindow(scores, boxes)) {
          if (cutByWindow(box, x, y, level)) continue;
          detections.push({
            score,
            box: {
              left: (box.left + x) * scale,
              top: (box.top + y) * scale,
              width: box.width * scale,
              height: box.height * scale,
            },
          });
        }
      }
    }
  }
  const refined = [];
  for (const detection of suppressOverlaps(detections)) refined.push(await refine(picture, detection, runDetector));
  return suppressOverlaps(refined).map(({ box, score }) => ({
    box,
    score,
    crop: faceCrop(box, picture.width, picture.height),
  }));
}

/**
 * Runs BlazeFace on one window: its four outputs (scores and boxes of each anchor grid) in anchor order.
 * @param {any} tf the TF.js namespace
 * @param {any} model the loaded graph model
 * @param {Float32Array} input
 * @returns {Promise<{scores: Float32Array, boxes: Float32Array}>}
 */
export async function detectorOutputs(tf, model, input) {
  const outputs = tf.tidy(() => {
    const produced = model.execute(tf.tensor4d(input, [1, DETECTOR_SIZE, DETECTOR_SIZE, 3]));
    // Outputs by shape: scores [1, n, 1] and boxes [1, n, 16] for n = 512 (16x16 grid) and 384 (8x8 grid).
    const bySize = (n, depth) => produced.find((t) => t.shape[1] === n && t.shape[2] === depth);
    return [tf.concat([bySize(512, 1), bySize(384, 1)], 1), tf.concat([bySize(512, 16), bySize(384, 16)], 1)];
  });
  try {
    const [scores, boxes] = await Promise.all(outputs.map((tensor) => tensor.data()));
    return { scores, boxes };
  } finally {
    tf.dispose(outputs);
  }
}

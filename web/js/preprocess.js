/**
 * The model's input, computed exactly as `training/preprocessing.py` does (the one definition):
 *
 *  1. decode the first frame with the EXIF orientation applied (`decodeImage`);
 *  2. composite alpha over white;
 *  3. take the face's square box when a detector gave one, else the centre square (edges may fall on
 *     half pixels);
 *  4. resize it to 128x128 with Pillow's BILINEAR resampling, ported here from Pillow's
 *     `src/libImaging/Resample.c`: a triangle filter whose support widens with the reduction factor,
 *     22-bit fixed-point weights, two passes each rounded to 8 bits: horizontal then vertical, except
 *     that Pillow 13 goes vertical first for images much taller than wide (see `verticalFirst`);
 *  5. divide by 255.
 *
 * Pixels are read in horizontal strips of the rows and columns the resize uses, so a huge picture is
 * never copied out as one full-size RGBA array: the vertical pass accumulates strip by strip.
 *
 * Runs in the classifier worker (and anywhere an OffscreenCanvas exists).
 */

export const INPUT_SIZE = 128;
const CHANNELS = 3;
/** Pillow: 32 bits minus 8 for the result and 2 for overflow. */
const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);
/** Pixels read per strip (16 MiB of RGBA). */
const STRIP_PIXELS = 1 << 22;
const ALPHA_BACKGROUND = '#ffffff';

/** Options that make the browser decode like Pillow: upright, no colour management. */
const DECODE_OPTIONS = Object.freeze({
  imageOrientation: 'from-image',
  colorSpaceConversion: 'none',
  premultiplyAlpha: 'premultiply',
});

/**
 * Pillow's bilinear (triangle) filter.
 * @param {number} x
 * @returns {number}
 */
function triangle(x) {
  const distance = Math.abs(x);
  return distance < 1 ? 1 - distance : 0;
}

/**
 * A crop box in source pixels, Pillow's (left, top, right, bottom) convention.
 * @typedef {{left: number, top: number, right: number, bottom: number}} Box
 */

/**
 * The centre square of step 3 in Pillow's box convention.
 * @param {number} width
 * @param {number} height
 * @returns {Box}
 */
function centreSquareBox(width, height) {
  const side = Math.min(width, height);
  const left = (width - side) / 2;
  const top = (height - side) / 2;
  return { left, top, right: left + side, bottom: top + side };
}

/**
 * A box as the single-precision floats Pillow receives.
 * @param {Box} box
 * @returns {Box}
 */
function singlePrecision(box) {
  return {
    left: Math.fround(box.left),
    top: Math.fround(box.top),
    right: Math.fround(box.right),
    bottom: Math.fround(box.bottom),
  };
}

/**
 * Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear filter along one axis.
 * @param {number} inSize pixels along the axis in the source
 * @param {number} boxStart first edge of the box (float32)
 * @param {number} boxEnd second edge of the box (float32)
 * @param {number} outSize pixels along the axis in the result
 * @returns {{first: Int32Array, count: Int32Array, weights: Int32Array, taps: number}}
 *   for output pixel i: source pixels first[i] .. first[i]+count[i]-1 with fixed-point
 *   weights weights[i*taps ..]
 */
function resampleCoefficients(inSize, boxStart, boxEnd, outSize) {
  const scale = Math.fround(boxEnd - boxStart) / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle filter's support is 1
  const inverse = 1 / filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const row = new Float64Array(taps);
  for (let i = 0; i < outSize; i++) {
    const center = boxStart + (i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let j = 0; j < xmax; j++) {
      row[j] = triangle((j + xmin - center + 0.5) * inverse);
      total += row[j];
    }
    for (let j = 0; j < xmax; j++) {
      const weight = total !== 0 ? row[j] / total : row[j];
      weights[i * taps + j] = Math.trunc(weight < 0 ? weight * ONE - 0.5 : weight * ONE + 0.5);
    }
    first[i] = xmin;
    count[i] = xmax;
  }
  return { first, count, weights, taps };
}

/**
 * Pillow's `clip8`: a fixed-point sum to a byte (arithmetic shift, then clamp).
 * @param {number} sum
 * @returns {number}
 */
function clip8(sum) {
  const value = Math.floor(sum / ONE);
  return value < 0 ? 0 : value > 255 ? 255 : value;
}

/**
 * A fresh accumulator for a vertical pass: every sum starts at Pillow's rounding offset.
 * @param {number} pixels
 * @returns {Int32Array} RGB sums
 */
function newAccumulator(pixels) {
  return new Int32Array(pixels * CHANNELS).fill(HALF);
}

/**
 * Accumulator to bytes.
 * @param {Int32Array} sums
 * @returns {Uint8Array}
 */
function clipAll(sums) {
  return Uint8Array.from(sums, clip8);
}

/**
 * Horizontal pass (Pillow's `ImagingResampleHorizontal_8bpc`) over consecutive rows.
 * @param {ArrayLike<number>} source pixels with `stride` bytes each (RGB first), `width` per row
 * @param {number} width
 * @param {number} stride 3 (RGB) or 4 (RGBA)
 * @param {number} sourceX source column of the rows' first pixel
 * @param {number} rows
 * @param {ReturnType<typeof resampleCoefficients>} coefficients horizontal coefficients
 * @returns {Uint8Array} RGB rows of `coefficients.first.length` pixels
 */
function resampleHorizontal(source, width, stride, sourceX, rows, coefficients) {
  const { first, count, weights, taps } = coefficients;
  const outWidth = first.length;
  const out = new Uint8Array(rows * outWidth * CHANNELS);
  let o = 0;
  for (let y = 0; y < rows; y++) {
    const rowStart = y * width * stride;
    for (let x = 0; x < outWidth; x++) {
      let r = HALF;
      let g = HALF;
      let b = HALF;
      let p = rowStart + (first[x] - sourceX) * stride;
      const k = x * taps;
      for (let j = 0; j < count[x]; j++, p += stride) {
        const weight = weights[k + j];
        r += source[p] * weight;
        g += source[p + 1] * weight;
        b += source[p + 2] * weight;
      }
      out[o++] = clip8(r);
      out[o++] = clip8(g);
      out[o++] = clip8(b);
    }
  }
  return out;
}

/**
 * Vertical pass (Pillow's `ImagingResampleVertical_8bpc`), fed a strip of rows at a time: adds the
 * strip's weighted rows to the sums of every output row that uses them.
 * @param {ArrayLike<number>} source pixels with `stride` bytes each (RGB first), `width` per row
 * @param {number} width
 * @param {number} stride 3 (RGB) or 4 (RGBA)
 * @param {number} sourceY source row of the strip's first row
 * @param {number} rows rows in the strip
 * @param {ReturnType<typeof resampleCoefficients>} coefficients vertical coefficients
 * @param {Int32Array} sums from `newAccumulator(outHeight * width)`
 */
function accumulateVertical(source, width, stride, sourceY, rows, coefficients, sums) {
  const { first, count, weights, taps } = coefficients;
  for (let i = 0; i < first.length; i++) {
    const from = Math.max(first[i], sourceY);
    const to = Math.min(first[i] + count[i], sourceY + rows);
    for (let r = from; r < to; r++) {
      const weight = weights[i * taps + r - first[i]];
      let p = (r - sourceY) * width * stride;
      let s = i * width * CHANNELS;
      for (let x = 0; x < width; x++, p += stride) {
        sums[s++] += source[p] * weight;
        sums[s++] += source[p + 1] * weight;
        sums[s++] += source[p + 2] * weight;
      }
    }
  }
}

/**
 * Pillow 13 runs the vertical pass first when the height shrinks by more than twice as many pixels as
 * the width (python-pillow/Pillow#9549); the order matters because each pass rounds to 8 bits.
 * @param {number} width source width
 * @param {number} height source height
 * @returns {boolean}
 */
function verticalFirst(width, height) {
  return height > INPUT_SIZE && height - INPUT_SIZE > 2 * (width - INPUT_SIZE);
}

/**
 * Decodes a file into an upright bitmap without colour management (step 1).
 * @param {Blob} blob
 * @returns {Promise<ImageBitmap>}
 */
export function decodeImage(blob) {
  return createImageBitmap(blob, DECODE_OPTIONS);
}

/**
 * Steps 2-4: a decoded image (file bitmap or video frame) to 128x128 RGB bytes, reading the pixels
 * the resize needs in strips of rows composited over white.
 * @param {CanvasImageSource & {width: number, height: number}} image
 * @param {Box} [box] a face's square crop box in source pixels, inside the picture (default: the centre square)
 * @returns {Uint8Array} INPUT_SIZE * INPUT_SIZE * 3 bytes, row-major RGB
 */
export function resizeToInput(image, box = undefined) {
  const { width, height } = image;
  const crop = singlePrecision(box ?? centreSquareBox(width, height));
  const horizontal = resampleCoefficients(width, crop.left, crop.right, INPUT_SIZE);
  const vertical = resampleCoefficients(height, crop.top, crop.bottom, INPUT_SIZE);
  const last = INPUT_SIZE - 1;
  const xFirst = horizontal.first[0];
  const stripWidth = horizontal.first[last] + horizontal.count[last] - xFirst;
  const yFirst = vertical.first[0];
  const yEnd = vertical.first[last] + vertical.count[last];
  const stripRows = Math.max(1, Math.min(yEnd - yFirst, Math.floor(STRIP_PIXELS / stripWidth)));

  const canvas = new OffscreenCanvas(stripWidth, stripRows);
  const context = canvas.getContext('2d', { alpha: false, willReadFrequently: true });
  context.imageSmoothingEnabled = false;
  context.fillStyle = ALPHA_BACKGROUND;
  const readStrip = (y, rows) => {
    context.fillRect(0, 0, stripWidth, rows);
    context.drawImage(image, xFirst, y, stripWidth, rows, 0, 0, stripWidth, rows);
    return context.getImageData(0, 0, stripWidth, rows).data;
  };

  if (verticalFirst(width, height)) {
    const sums = newAccumulator(INPUT_SIZE * stripWidth);
    for (let y = yFirst; y < yEnd; y += stripRows) {
      const rows = Math.min(stripRows, yEnd - y);
      accumulateVertical(readStrip(y, rows), stripWidth, 4, y, rows, vertical, sums);
    }
    return resampleHorizontal(clipAll(sums), stripWidth, CHANNELS, xFirst, INPUT_SIZE, horizontal);
  }
  const sums = newAccumulator(INPUT_SIZE * INPUT_SIZE);
  for (let y = yFirst; y < yEnd; y += stripRows) {
    const rows = Math.min(stripRows, yEnd - y);
    const resampled = resampleHorizontal(readStrip(y, rows), stripWidth, 4, xFirst, rows, horizontal);
    accumulateVertical(resampled, INPUT_SIZE, CHANNELS, y, rows, vertical, sums);
  }
  return clipAll(sums);
}

/**
 * Step 5: bytes to the float32 values in [0, 1] the model takes (NHWC, batch of one).
 * @param {Uint8Array} rgb
 * @returns {Float32Array}
 */
export function toModelInput(rgb) {
  return Float32Array.from(rgb, (value) => value / 255);
}

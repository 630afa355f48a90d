// @ts-check
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
/** The largest factor whose column of 255s sums to at most 16 bits (see `addRowWords`). */
const MAX_WORD_FACTOR = 257;
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;
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
 * Pillow's `clip8`: a fixed-point sum to a byte (arithmetic shift, then clamp). Pillow's sums are 32-bit ints
 * (below 256 * ONE + HALF: the weights add up to about ONE), so JS's 32-bit `>>` is its shift exactly.
 * @param {number} sum
 * @returns {number}
 */
function clip8(sum) {
  const value = sum >> PRECISION_BITS;
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
  // A plain loop: `Uint8Array.from(sums, clip8)` calls back per value and cost a third of a 12 MP picture's detection.
  const bytes = new Uint8Array(sums.length);
  for (let i = 0; i < sums.length; i++) bytes[i] = clip8(sums[i]);
  return bytes;
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
 * @param {number} outWidth
 * @param {number} outHeight
 * @returns {boolean}
 */
function verticalFirst(width, height, outWidth, outHeight) {
  return height > outHeight && height - outHeight > 2 * (width - outWidth);
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
 * @typedef {{width: number, height: number,
 *   readStrip: (x: number, y: number, width: number, rows: number) => {data: Uint8Array | Uint8ClampedArray, stride: number}}} PixelSource
 *   reads `rows` rows of `width` pixels from (x, y): RGB first in each pixel of `stride` bytes
 */

/**
 * A decoded image (file bitmap or video frame) as a pixel source: strips drawn on a canvas over white, so
 * a huge picture is never copied out whole.
 * @param {CanvasImageSource & {width: number, height: number}} image
 * @returns {PixelSource}
 */
export function bitmapSource(image) {
  /** @type {OffscreenCanvas | null} */
  let canvas = null;
  /** @type {OffscreenCanvasRenderingContext2D} */
  let context;
  return {
    width: image.width,
    height: image.height,
    readStrip(x, y, width, rows) {
      if (!canvas || canvas.width < width || canvas.height < rows) {
        canvas = new OffscreenCanvas(width, rows);
        context = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext('2d', { alpha: false, willReadFrequently: true }));
        context.imageSmoothingEnabled = false;
        context.fillStyle = ALPHA_BACKGROUND;
      }
      context.fillRect(0, 0, width, rows);
      context.drawImage(image, x, y, width, rows, 0, 0, width, rows);
      return { data: context.getImageData(0, 0, width, rows).data, stride: 4 };
    },
  };
}

/**
 * Packed RGB bytes as a pixel source.
 * @param {Uint8Array} rgb
 * @param {number} width
 * @param {number} height
 * @returns {PixelSource}
 */
export function rgbSource(rgb, width, height) {
  return {
    width,
    height,
    readStrip(x, y, stripWidth, rows) {
      if (x === 0 && stripWidth === width) {
        return { data: rgb.subarray(y * width * CHANNELS, (y + rows) * width * CHANNELS), stride: CHANNELS };
      }
      const data = new Uint8Array(stripWidth * rows * CHANNELS);
      for (let row = 0; row < rows; row++) {
        const start = ((y + row) * width + x) * CHANNELS;
        data.set(rgb.subarray(start, start + stripWidth * CHANNELS), row * stripWidth * CHANNELS);
      }
      return { data, stride: CHANNELS };
    },
  };
}

/**
 * Pillow's `Image.resize((outWidth, outHeight), BILINEAR, box)`: reads the pixels the resize needs in
 * strips of rows, so the vertical pass accumulates strip by strip.
 * @param {PixelSource} source
 * @param {Box} box
 * @param {number} outWidth
 * @param {number} outHeight
 * @returns {Uint8Array} outWidth * outHeight * 3 bytes, row-major RGB
 */
export function resizeRegion(source, box, outWidth, outHeight) {
  const { width, height } = source;
  const horizontal = resampleCoefficients(width, Math.fround(box.left), Math.fround(box.right), outWidth);
  const vertical = resampleCoefficients(height, Math.fround(box.top), Math.fround(box.bottom), outHeight);
  const xFirst = horizontal.first[0];
  const stripWidth = horizontal.first[outWidth - 1] + horizontal.count[outWidth - 1] - xFirst;
  const yFirst = vertical.first[0];
  const yEnd = vertical.first[outHeight - 1] + vertical.count[outHeight - 1];
  const stripRows = Math.max(1, Math.min(yEnd - yFirst, Math.floor(STRIP_PIXELS / stripWidth)));

  if (verticalFirst(width, height, outWidth, outHeight)) {
    const sums = newAccumulator(outHeight * stripWidth);
    for (let y = yFirst; y < yEnd; y += stripRows) {
      const rows = Math.min(stripRows, yEnd - y);
      const { data, stride } = source.readStrip(xFirst, y, stripWidth, rows);
      accumulateVertical(data, stripWidth, stride, y, rows, vertical, sums);
    }
    return resampleHorizontal(clipAll(sums), stripWidth, CHANNELS, xFirst, outHeight, horizontal);
  }
  const sums = newAccumulator(outHeight * outWidth);
  for (let y = yFirst; y < yEnd; y += stripRows) {
    const rows = Math.min(stripRows, yEnd - y);
    const { data, stride } = source.readStrip(xFirst, y, stripWidth, rows);
    const resampled = resampleHorizontal(data, stripWidth, stride, xFirst, rows, horizontal);
    accumulateVertical(resampled, outWidth, CHANNELS, y, rows, vertical, sums);
  }
  return clipAll(sums);
}

/**
 * Adds one row of pixels to the RGB sums of the output columns they fall in, `factor` pixels a column.
 * @param {ArrayLike<number>} data pixels with `stride` bytes each (RGB first)
 * @param {number} p index of the row's first byte
 * @param {number} stride
 * @param {number} width pixels in the row
 * @param {number} factor
 * @param {Uint32Array} sums RGB per output column
 */
function addRowBytes(data, p, stride, width, factor, sums) {
  for (let x = 0, o = 0; x < width; o += CHANNELS) {
    const end = Math.min(x + factor, width);
    let red = 0;
    let green = 0;
    let blue = 0;
    for (; x < end; x++, p += stride) {
      red += data[p];
      green += data[p + 1];
      blue += data[p + 2];
    }
    sums[o] += red;
    sums[o + 1] += green;
    sums[o + 2] += blue;
  }
}

/**
 * `addRowBytes` for RGBA pixels read as little-endian 32-bit words (the browser's canvas pixels): one load a
 * pixel, red and blue summed side by side in the two 16-bit halves of one integer.
 * @param {Uint32Array} words
 * @param {number} p index of the row's first pixel
 * @param {number} width
 * @param {number} factor at most MAX_WORD_FACTOR, so that a column's red or blue sum fits in 16 bits
 * @param {Uint32Array} sums
 */
function addRowWords(words, p, width, factor, sums) {
  for (let x = 0, o = 0; x < width; o += CHANNELS) {
    const end = Math.min(x + factor, width);
    let redBlue = 0;
    let green = 0;
    for (; x < end; x++, p++) {
      const word = words[p];
      redBlue += word & 0xff00ff;
      green += (word >>> 8) & 0xff;
    }
    sums[o] += redBlue & 0xffff;
    sums[o + 1] += green;
    sums[o + 2] += redBlue >>> 16;
  }
}

/**
 * Pillow's `Image.reduce(factor)` (`src/libImaging/Reduce.c`): the mean of each factor x factor block, in
 * fixed point, with the partial blocks of the last column and row averaged over what they hold. A cheap first
 * step before a bilinear resize of a huge picture (what Pillow's `reducing_gap` does).
 * @param {PixelSource} source
 * @param {number} factor an integer of at least 2
 * @returns {{width: number, height: number, rgb: Uint8Array}}
 */
export function reduceByFactor(source, factor) {
  const { width, height } = source;
  const outWidth = Math.ceil(width / factor);
  const outHeight = Math.ceil(height / factor);
  const rgb = new Uint8Array(outWidth * outHeight * CHANNELS);
  const sums = new Uint32Array(outWidth * CHANNELS);
  const blockRows = Math.max(1, Math.floor(STRIP_PIXELS / width / factor));
  const lastColumnWidth = width - (outWidth - 1) * factor;
  // Pillow's division_UINT32(count, 8): a 24-bit fixed-point reciprocal, computed in single precision.
  const multiplier = (count) => Math.trunc(Math.fround(2 ** 32 / Math.fround(256 * count)));
  for (let outY = 0; outY < outHeight; outY += blockRows) {
    const y = outY * factor;
    const rows = Math.min(blockRows * factor, height - y);
    const { data, stride } = source.readStrip(0, y, width, rows);
    const words = stride === 4 && factor <= MAX_WORD_FACTOR && LITTLE_ENDIAN && data.byteOffset % 4 === 0
      ? new Uint32Array(data.buffer, data.byteOffset, rows * width)
      : null;
    for (let block = 0; block * factor < rows; block++) {
      sums.fill(0);
      const blockHeight = Math.min(factor, rows - block * factor);
      for (let r = block * factor; r < block * factor + blockHeight; r++) {
        if (words) addRowWords(words, r * width, width, factor, sums);
        else addRowBytes(data, r * width * stride, stride, width, factor, sums);
      }
      const count = factor * blockHeight;
      const scale = multiplier(count);
      const lastCount = lastColumnWidth * blockHeight;
      const lastScale = multiplier(lastCount);
      let o = (outY + block) * outWidth * CHANNELS;
      for (let s = 0; s < sums.length; s++) {
        const last = s >= sums.length - CHANNELS;
        const amend = Math.floor((last ? lastCount : count) / 2);
        rgb[o++] = Math.floor(((sums[s] + amend) * (last ? lastScale : scale)) / 2 ** 24);
      }
    }
  }
  return { width: outWidth, height: outHeight, rgb };
}

/**
 * Steps 2-4: a region of a decoded image (the centre square unless a face's crop is given) to INPUT_SIZE RGB.
 * @param {CanvasImageSource & {width: number, height: number}} image
 * @param {Box} [box]
 * @returns {Uint8Array} INPUT_SIZE * INPUT_SIZE * 3 bytes, row-major RGB
 */
export function resizeToInput(image, box = centreSquareBox(image.width, image.height)) {
  return resizeRegion(bitmapSource(image), box, INPUT_SIZE, INPUT_SIZE);
}

/**
 * Step 5: bytes to the float32 values in [0, 1] the model takes (NHWC, batch of one).
 * @param {Uint8Array} rgb
 * @returns {Float32Array}
 */
export function toModelInput(rgb) {
  return Float32Array.from(rgb, (value) => value / 255);
}

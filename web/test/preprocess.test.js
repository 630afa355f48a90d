// @ts-check
/**
 * The resampler against Pillow, which training uses and the page must match: the expected bytes are what
 * Pillow 13's `Image.resize(size, Image.BILINEAR, box)` gives for the same pattern.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { resizeRegion } from '../js/preprocess.js';

/**
 * A fake ImageData (RGBA, as a canvas gives it) of a fixed pattern, as the page's pixel source.
 * @param {number} width
 * @param {number} height
 */
function imageDataSource(width, height) {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data.set([(x * 37 + y * 11) % 256, (x * 5 + y * 53) % 256, (x * y * 13 + 7) % 256, 255], (y * width + x) * 4);
    }
  }
  const imageData = { width, height, data };
  return {
    width,
    height,
    /** @type {(x: number, y: number, stripWidth: number, rows: number) => {data: Uint8ClampedArray, stride: number}} */
    readStrip(x, y, stripWidth, rows) {
      const strip = new Uint8ClampedArray(stripWidth * rows * 4);
      for (let row = 0; row < rows; row++) {
        const start = ((y + row) * imageData.width + x) * 4;
        strip.set(imageData.data.subarray(start, start + stripWidth * 4), row * stripWidth * 4);
      }
      return { data: strip, stride: 4 };
    },
  };
}

test('a whole picture shrunk matches Pillow byte for byte', () => {
  const out = resizeRegion(imageDataSource(7, 5), { left: 0, top: 0, right: 7, bottom: 5 }, 3, 2);
  assert.deepEqual([...out], [43, 57, 18, 122, 68, 46, 201, 79, 74, 65, 163, 40, 144, 174, 119, 194, 185, 144]);
});

test('a box on half pixels matches Pillow byte for byte', () => {
  const out = resizeRegion(imageDataSource(9, 6), { left: 0.5, top: 0, right: 8.5, bottom: 6 }, 4, 4);
  assert.deepEqual([...out], [
    41, 25, 12, 115, 35, 22, 189, 45, 31, 71, 55, 41, 57, 99, 30, 131, 109, 76, 205, 119, 123, 87, 129, 147,
    72, 176, 49, 146, 186, 133, 199, 196, 152, 81, 206, 108, 88, 90, 67, 162, 100, 147, 172, 110, 76, 54, 120, 132,
  ]);
});

test('a picture much taller than wide (the vertical pass first) matches Pillow byte for byte', () => {
  const out = resizeRegion(imageDataSource(4, 20), { left: 0, top: 0, right: 4, bottom: 20 }, 2, 3);
  assert.deepEqual([...out], [64, 106, 39, 123, 113, 97, 131, 124, 77, 181, 131, 125, 184, 141, 115, 127, 148, 152]);
});

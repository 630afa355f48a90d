// @ts-check
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { sha256Blob, webCryptoSha256 } from '../js/video-hash.js';

/** @param {Uint8Array} bytes */
const nodeSha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

test('WebCrypto gives the known digest of "abc"', async () => {
  assert.equal(
    await webCryptoSha256(new Blob(['abc'])),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
});

test('the streamed hash equals SHA-256 at every padding edge and across chunk edges', async () => {
  for (const size of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000]) {
    const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 31 + 7) % 256);
    // webCryptoLimit -1: always the streamed JavaScript hash; chunks of 7 bytes split blocks anywhere.
    const streamed = await sha256Blob(new Blob([bytes]), { webCryptoLimit: -1, chunkBytes: 7 });
    assert.equal(streamed, nodeSha256(bytes), `size ${size}`);
  }
});

test('progress reaches 1 when the hash is done', async () => {
  const seen = [];
  await sha256Blob(new Blob([new Uint8Array(100)]), { webCryptoLimit: -1, chunkBytes: 30, onProgress: (f) => seen.push(f) });
  assert.equal(seen.at(-1), 1);
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
});

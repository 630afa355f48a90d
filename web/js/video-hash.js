// @ts-check
/**
 * The SHA-256 fingerprint of a video file, computed on this device with bounded memory.
 *
 * WebCrypto (`crypto.subtle.digest`) is native and fast but has no streaming interface: it needs the whole
 * file in one buffer. A 10-minute clip can be hundreds of megabytes, so:
 *
 *  - files up to WEBCRYPTO_LIMIT_BYTES are hashed by WebCrypto in one call (one transient buffer of at
 *    most that size);
 *  - larger files are read slice by slice, CHUNK_BYTES at a time, through the incremental SHA-256 below
 *    (FIPS 180-4), so memory stays at one chunk whatever the file's size. It is slower than WebCrypto
 *    (roughly 100-300 MB/s in V8) but runs in its own worker (`video-hash-worker.js`) while the frames are
 *    being analysed, which takes far longer.
 *
 * Both give the same digest (the end-to-end tests check the streaming one against Python's hashlib), so the
 * history holds the true SHA-256 of the file whatever its size.
 */

const WEBCRYPTO_LIMIT_BYTES = 32 * 1024 * 1024;
const CHUNK_BYTES = 4 * 1024 * 1024;
const WORKER_URL = '/js/video-hash-worker.js';

/** SHA-256 round constants: the first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const INITIAL_STATE = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const BLOCK_BYTES = 64;

/** Incremental SHA-256: `update()` with any number of byte arrays, then `hex()` once. */
class Sha256 {
  constructor() {
    this.state = Uint32Array.from(INITIAL_STATE);
    this.words = new Uint32Array(64);
    this.pending = new Uint8Array(BLOCK_BYTES);
    this.pendingLength = 0;
    this.totalBytes = 0;
  }

  /**
   * Adds bytes.
   * @param {Uint8Array} bytes
   */
  update(bytes) {
    this.totalBytes += bytes.length;
    let offset = 0;
    if (this.pendingLength) {
      const take = Math.min(BLOCK_BYTES - this.pendingLength, bytes.length);
      this.pending.set(bytes.subarray(0, take), this.pendingLength);
      this.pendingLength += take;
      offset = take;
      if (this.pendingLength < BLOCK_BYTES) return;
      this.compress(this.pending, 0);
      this.pendingLength = 0;
    }
    for (; offset + BLOCK_BYTES <= bytes.length; offset += BLOCK_BYTES) this.compress(bytes, offset);
    this.pending.set(bytes.subarray(offset), 0);
    this.pendingLength = bytes.length - offset;
  }

  /**
   * The digest as 64 lowercase hex digits (the hash cannot be updated afterwards).
   * @returns {string}
   */
  hex() {
    const bits = this.totalBytes * 8;
    const padding = new Uint8Array(((this.pendingLength < 56 ? 56 : 120) - this.pendingLength) + 8);
    padding[0] = 0x80;
    const view = new DataView(padding.buffer);
    view.setUint32(padding.length - 8, Math.floor(bits / 2 ** 32));
    view.setUint32(padding.length - 4, bits >>> 0);
    this.update(padding);
    return Array.from(this.state, (word) => word.toString(16).padStart(8, '0')).join('');
  }

  /**
   * Processes one 64-byte block.
   * @private
   * @param {Uint8Array} bytes
   * @param {number} offset
   */
  compress(bytes, offset) {
    const w = this.words;
    for (let i = 0; i < 16; i++) {
      const j = offset + i * 4;
      w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15];
      const b = w[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    const s = this.state;
    let [a, b, c, d, e, f, g, h] = s;
    for (let i = 0; i < 64; i++) {
      const sum1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const choice = (e & f) ^ (~e & g);
      const t1 = (h + sum1 + choice + K[i] + w[i]) | 0;
      const sum0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const majority = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (sum0 + majority) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    s[0] += a;
    s[1] += b;
    s[2] += c;
    s[3] += d;
    s[4] += e;
    s[5] += f;
    s[6] += g;
    s[7] += h;
  }
}

/**
 * Hex SHA-256 of a blob by WebCrypto, in one call (the whole blob is read into memory). Also used by the
 * classifier worker for image files.
 * @param {Blob} blob
 * @returns {Promise<string>}
 */
export async function webCryptoSha256(blob) {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * Hex SHA-256 of a blob: WebCrypto below the limit, streamed in chunks above it.
 * @param {Blob} blob
 * @param {{webCryptoLimit?: number, chunkBytes?: number, onProgress?: (fraction: number) => void}} [options]
 * @returns {Promise<string>}
 */
export async function sha256Blob(blob, { webCryptoLimit = WEBCRYPTO_LIMIT_BYTES, chunkBytes = CHUNK_BYTES, onProgress } = {}) {
  if (blob.size <= webCryptoLimit) {
    const hex = await webCryptoSha256(blob);
    onProgress?.(1);
    return hex;
  }
  const hash = new Sha256();
  for (let start = 0; start < blob.size; start += chunkBytes) {
    hash.update(new Uint8Array(await blob.slice(start, start + chunkBytes).arrayBuffer()));
    onProgress?.(Math.min(1, (start + chunkBytes) / blob.size));
  }
  return hash.hex();
}

/**
 * Hashes a file in a worker (the page stays responsive); aborting stops the worker.
 * @param {File} file
 * @param {{signal?: AbortSignal, onProgress?: (fraction: number) => void}} [options]
 * @returns {Promise<string>}
 */
export function hashInWorker(file, { signal, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_URL, { type: 'module' });
    const stop = () => {
      worker.terminate();
      reject(signal?.reason ?? new DOMException('Cancelled', 'AbortError'));
    };
    const finish = () => {
      worker.terminate();
      signal?.removeEventListener('abort', stop);
    };
    if (signal?.aborted) return stop();
    signal?.addEventListener('abort', stop, { once: true });
    worker.addEventListener('message', ({ data }) => {
      if (data.type === 'progress') return onProgress?.(data.fraction);
      finish();
      if (data.type === 'done') resolve(data.sha256);
      else reject(new Error(`The file's fingerprint could not be computed: ${data.message}`));
    });
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      finish();
      reject(new Error("The file's fingerprint could not be computed in this browser."));
    });
    worker.postMessage({ file });
  });
}

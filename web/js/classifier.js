// @ts-check
/**
 * Page-side handle on the classifier worker: promises instead of messages. One instance serves images
 * and video frames alike: `classify(blob)` for a file, `classify(await createImageBitmap(video))`
 * for a frame (the bitmap is transferred to the worker).
 */

const WORKER_URL = '/js/classifier-worker.js';

/** A failed classification, with the worker's code ('empty', 'not-image', 'undecodable', ...). */
export class ClassificationError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class Classifier {
  constructor() {
    this.worker = new Worker(WORKER_URL, { type: 'module' });
    this.pending = new Map();
    this.nextId = 1;
    /** Set once the worker has died: every later request fails at once instead of waiting forever. */
    this.broken = null;
    this.worker.addEventListener('message', (event) => this.receive(event.data));
    this.worker.addEventListener('error', (event) => {
      event.preventDefault();
      this.failAll(new ClassificationError('failed', 'The analysis engine could not start in this browser.'));
    });
  }

  /**
   * Loads the model. `backend` forces an engine; `preferred` is tried first (skipping the speed trial);
   * `onProgress(fraction)` follows the download.
   * @param {{backend?: string, preferred?: string, onProgress?: (fraction: number) => void}} [options]
   * @returns {Promise<{metadata: import('./model-card.js').ModelCard, backendName: string, backend: string, loadMs: number, warmupMs: number}>}
   */
  load({ backend, preferred, onProgress } = {}) {
    return this.request({ type: 'load', backend, preferred }, [], onProgress);
  }

  /**
   * Analyses a file (Blob) or a decoded frame (ImageBitmap, transferred): every face in it, or with `whole`
   * the picture itself.
   * @param {Blob | ImageBitmap} image
   * @param {{whole?: boolean}} [options]
   */
  classify(image, { whole = false } = {}) {
    return this.request({ type: 'classify', image, whole }, image instanceof ImageBitmap ? [image] : []);
  }

  /**
   * What a video file says about itself (its Content Credentials), read in the worker.
   * @param {Blob} video
   * @returns {Promise<object>} provenance.js's Provenance
   */
  readVideoProvenance(video) {
    return this.request({ type: 'provenance', image: video });
  }

  /**
   * The exact model input for an image (used by the preprocessing parity test).
   * @param {Blob} image
   * @returns {Promise<Float32Array>}
   */
  preprocess(image) {
    return this.request({ type: 'preprocess', image });
  }

  /**
   * @private
   * @param {Record<string, any>} message
   * @param {Transferable[]} [transfer]
   * @param {(fraction: number) => void} [onProgress]
   * @returns {Promise<any>}
   */
  request(message, transfer = [], onProgress = undefined) {
    if (this.broken) {
      if (message.image instanceof ImageBitmap) message.image.close();
      return Promise.reject(this.broken);
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** @private */
  receive(data) {
    const call = this.pending.get(data.id);
    if (!call) return;
    if (data.type === 'progress') {
      call.onProgress?.(data.fraction);
      return;
    }
    this.pending.delete(data.id);
    if (data.type === 'error') call.reject(new ClassificationError(data.code, data.message));
    else if (data.type === 'result') call.resolve(data.result);
    else if (data.type === 'input') call.resolve(data.input);
    else if (data.type === 'provenance') call.resolve(data.provenance);
    else call.resolve(data);
  }

  /** @private */
  failAll(error) {
    this.broken = error;
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
  }
}

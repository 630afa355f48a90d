// @ts-check
/**
 * Computes a video file's SHA-256 off the page's main thread (see video-hash.js). Message in: {file};
 * messages out: {type: 'progress', fraction}, then {type: 'done', sha256} or {type: 'error', message}.
 */
import { sha256Blob } from './video-hash.js';

self.addEventListener('message', async ({ data }) => {
  try {
    const sha256 = await sha256Blob(data.file, { onProgress: (fraction) => self.postMessage({ type: 'progress', fraction }) });
    self.postMessage({ type: 'done', sha256 });
  } catch (error) {
    self.postMessage({ type: 'error', message: (error instanceof Error && error.message) || String(error) });
  }
});

// @ts-check
/**
 * Start-up shared by the pages that analyse locally (images and video): sign in, load the model with a
 * progress bar, send verdict logs queued while offline, and mark the page ready for its inputs.
 */

import { Classifier } from './classifier.js';
import { sync } from './offline-queue.js';
import { startSignedInPage } from './page.js';

/** localStorage key of the engine measured fastest on this device, reused on later visits. */
const BACKEND_KEY = 'unmask.backend';

/**
 * Loads the model; `?backend=wasm` (or webgl, cpu) forces an engine, otherwise the remembered fastest one.
 * @param {Classifier} classifier
 * @param {{modelProgress: HTMLProgressElement, modelMessage: HTMLElement}} status
 */
async function loadModel(classifier, status) {
  const forced = new URLSearchParams(location.search).get('backend') ?? undefined;
  const loaded = await classifier.load({
    backend: forced,
    preferred: localStorage.getItem(BACKEND_KEY) ?? undefined,
    onProgress: (fraction) => {
      status.modelProgress.value = fraction;
    },
  });
  if (!forced) localStorage.setItem(BACKEND_KEY, loaded.backendName);
  status.modelProgress.value = 1;
  status.modelProgress.hidden = true;
  status.modelMessage.textContent = `Model ready (${loaded.metadata.version}, ${loaded.backend}).`;
  return loaded.metadata;
}

/**
 * Reads a sentence out to screen-reader users (through the page's polite live region, #announcer).
 * @param {string} text
 */
export function announce(text) {
  /** @type {HTMLElement} */ (document.getElementById('announcer')).textContent = text;
}

/**
 * Makes `zone` accept dropped files, highlighted while something is dragged over it.
 * @param {HTMLElement} zone
 * @param {(files: FileList) => void} onFiles
 */
export function acceptDrops(zone, onFiles) {
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('dragging');
    if (event.dataTransfer) onFiles(event.dataTransfer.files);
  });
}

/**
 * @typedef {{classifier: Classifier, metadata: object, session: object}} Ready
 * @param {{
 *   status: {modelProgress: HTMLProgressElement, modelMessage: HTMLElement},
 *   wireInputs: (ready: Promise<Ready>) => void,
 *   onModelReady: (metadata: object) => void,
 * }} page
 */
export async function startAnalysisPage({ status, wireInputs, onModelReady }) {
  const session = await startSignedInPage();
  const classifier = new Classifier();
  const ready = loadModel(classifier, status).then((metadata) => {
    onModelReady(metadata);
    return { classifier, metadata, session };
  });
  wireInputs(ready);
  window.addEventListener('online', () => sync(session));
  sync(session);
  try {
    await ready;
    document.body.dataset.ready = 'true';
  } catch (error) {
    status.modelMessage.textContent = `The model could not be loaded: ${error instanceof Error ? error.message : error}`;
    status.modelMessage.classList.add('error');
    status.modelProgress.hidden = true;
  }
}

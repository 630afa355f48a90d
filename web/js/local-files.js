// @ts-check
/**
 * What the history shows of a picture on this device only: a small thumbnail and the file name, by verdict
 * log id, in IndexedDB. Never sent to the server; forgotten on logout, with the account, and with the logs
 * they belong to.
 */
import { FILES_STORE, withStore } from './offline-queue.js';

/** Thumbnail width in pixels (shown at 48 CSS pixels, sharp on a 2x screen). */
const THUMBNAIL_WIDTH = 96;
const THUMBNAIL_QUALITY = 0.8;

/**
 * A small JPEG of a canvas already drawn on the page.
 * @param {HTMLCanvasElement} canvas
 * @returns {Promise<Blob>}
 */
function thumbnailOf(canvas) {
  const height = Math.max(1, Math.round((canvas.height / canvas.width) * THUMBNAIL_WIDTH));
  const small = Object.assign(document.createElement('canvas'), { width: THUMBNAIL_WIDTH, height });
  /** @type {CanvasRenderingContext2D} */ (small.getContext('2d')).drawImage(canvas, 0, 0, THUMBNAIL_WIDTH, height);
  return new Promise((resolve, reject) =>
    small.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('the thumbnail could not be made'))),
      'image/jpeg', THUMBNAIL_QUALITY));
}

/**
 * Keeps a log's thumbnail (of `picture`, drawn on the page) and file name on this device. A browser that
 * refuses (no IndexedDB space) only loses them: the analysis and its log go on.
 * @param {{id: string, username: string, name: string, picture: HTMLCanvasElement}} file
 */
export async function rememberFile({ id, username, name, picture }) {
  try {
    const thumbnail = await thumbnailOf(picture);
    await withStore('readwrite', (store) => store.put({ id, username, name, thumbnail }), FILES_STORE);
  } catch (error) {
    console.warn('The thumbnail was not kept:', error);
  }
}

/**
 * The files kept here for `username`, by log id.
 * @param {string} username
 * @returns {Promise<Map<string, {name: string, thumbnail: Blob}>>}
 */
export async function localFiles(username) {
  const files = await withStore('readonly', (store) => store.getAll(), FILES_STORE);
  return new Map(files.filter((file) => file.username === username).map((file) => [file.id, file]));
}

/**
 * Forgets one log's file.
 * @param {string} id
 */
export function forgetFile(id) {
  return withStore('readwrite', (store) => store.delete(id), FILES_STORE);
}

/** Forgets every file kept on this device (logout, account deletion, the whole history deleted). */
export function forgetLocalFiles() {
  return withStore('readwrite', (store) => store.clear(), FILES_STORE);
}

// @ts-check
/**
 * Still image or video, from a file's first bytes (its type as a fallback), so that a video dropped on the
 * image page, or a picture on the video page, is sent to the page that can check it instead of failing
 * with "damaged". Read on this device; nothing is sent.
 */

/** ISO-BMFF brands of still pictures (HEIC/HEIF, AVIF): any other `ftyp` brand is a video (MP4, MOV, 3GP). */
const IMAGE_BRANDS = ['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1', 'avif', 'avis'];
const HEAD_BYTES = 12;

/** Where each kind of file is checked, for the message that points there. */
const PAGES = {
  image: { href: '/', label: 'Check it on the Analyse page' },
  video: { href: '/video', label: 'Check it on the Video page' },
};

/** A file of the kind the other page checks: its message is shown with a link to that page. */
export class WrongPageError extends Error {
  /**
   * @param {string} message
   * @param {'image'|'video'} page the kind of page that checks this file
   */
  constructor(message, page) {
    super(message);
    this.page = page;
  }
}

/**
 * @param {Uint8Array} head
 * @param {number[]} bytes
 * @param {number} [at]
 * @returns {boolean}
 */
function startsWith(head, bytes, at = 0) {
  return bytes.every((byte, i) => head[at + i] === byte);
}

/**
 * @param {Uint8Array} head the file's first HEAD_BYTES bytes
 * @returns {'image'|'video'|null} null when the bytes do not tell
 */
function kindFromBytes(head) {
  const text = String.fromCharCode(...head);
  if (text.slice(4, 8) === 'ftyp') return IMAGE_BRANDS.includes(text.slice(8, 12)) ? 'image' : 'video';
  if (startsWith(head, [0x1a, 0x45, 0xdf, 0xa3]) || text.startsWith('OggS')) return 'video'; // Matroska/WebM, Ogg
  if (text.startsWith('RIFF')) return text.slice(8, 12) === 'WEBP' ? 'image' : text.slice(8, 11) === 'AVI' ? 'video' : null;
  if (startsWith(head, [0xff, 0xd8, 0xff]) || startsWith(head, [0x89, 0x50, 0x4e, 0x47]) || text.startsWith('GIF8') || text.startsWith('BM')) {
    return 'image';
  }
  return null;
}

/**
 * What a file is: 'image', 'video', or 'other' (empty, text, a document, unknown bytes).
 * @param {Blob} file
 * @returns {Promise<'image'|'video'|'other'>}
 */
export async function fileKind(file) {
  const fromBytes = kindFromBytes(new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer()));
  if (fromBytes) return fromBytes;
  if (file.type.startsWith('video/')) return 'video';
  return file.type.startsWith('image/') ? 'image' : 'other';
}

/**
 * Shows an error's message in an element, with a link to the page that checks the file when it is a
 * WrongPageError.
 * @param {HTMLElement} element
 * @param {Error} error
 */
export function showError(element, error) {
  element.textContent = error.message;
  if (!(error instanceof WrongPageError)) return;
  const { href, label } = PAGES[error.page];
  element.append(' ', Object.assign(document.createElement('a'), { href, textContent: label }), '.');
}

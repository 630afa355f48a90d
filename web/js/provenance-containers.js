// @ts-check
/**
 * The containers that hold a picture's metadata, read without a library: PNG chunks (text, tIME, the C2PA
 * caBX chunk), JPEG marker segments (comments, the C2PA APP11 segment), and enough of a HEIC/AVIF file's
 * boxes to know whether exifr can be given it.
 */

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const PNG_TEXT_CHUNKS = ['tEXt', 'zTXt', 'iTXt'];
const JPEG_SOI = 0xd8;
const JPEG_SOS = 0xda;
const JPEG_EOI = 0xd9;
const JPEG_COM = 0xfe;
/** APP11: where JPEG files carry JUMBF boxes, C2PA manifests among them. */
const JPEG_APP11 = 0xeb;
/** The JUMBF label of a C2PA manifest store (APP11 also carries other JUMBF boxes). */
const C2PA_LABEL = 'c2pa';
/** The usertype of the top-level ISO BMFF `uuid` box that carries a C2PA manifest store (MP4, MOV). */
const BMFF_C2PA_UUID = 'd8fec3d61b0e483c92975828877ec481';
/** Top-level boxes of a video file looked at, at most (a few are usual: ftyp, moov, mdat, uuid, free). */
const MAX_TOP_LEVEL_BOXES = 64;
/** The PNG chunk that carries a C2PA manifest store. */
const PNG_C2PA_CHUNK = 'caBX';
/** Markers without a length field: TEM, RST0-7. */
const JPEG_STANDALONE = new Set([0x01, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7]);
/** A JPEG's metadata segments (at most 64 kB each) almost always fit in its first megabyte. */
const JPEG_HEAD_BYTES = 1024 * 1024;
/** A text chunk or comment larger than this is skipped (a ComfyUI workflow is tens of kB). */
const MAX_TEXT_BYTES = 4 * 1024 * 1024;

/**
 * The part of the file that holds its metadata, in one read: many small reads of a Blob (exifr's own, or
 * one per PNG chunk) cost far more (bench/provenance_reader.py). A JPEG's metadata all comes before its
 * image data, so its head is enough; other files are read whole (PNG text may follow the image data).
 * @param {Blob} blob
 * @returns {Promise<Uint8Array>}
 */
export async function metadataBytes(blob) {
  const head = new Uint8Array(await blob.slice(0, JPEG_HEAD_BYTES).arrayBuffer());
  if (head.length === blob.size || (isJpeg(head) && jpegSegments(head).complete)) return head;
  return new Uint8Array(await blob.arrayBuffer());
}

/**
 * @param {Uint8Array} bytes
 * @returns {boolean}
 */
function isJpeg(bytes) {
  return bytes[0] === 0xff && bytes[1] === JPEG_SOI;
}

/**
 * Whether exifr can be given this file. exifr 7.1.3 looks for the `meta` box of a HEIC/AVIF file (ISO
 * base media) by jumping from box to box, and never returns from a box of length 0 (or loops on one
 * shorter than its own header): a file without a reachable `meta` box is not handed to it.
 * @param {Uint8Array} bytes
 * @returns {boolean}
 */
export function safeForExifr(bytes) {
  if (latin1(bytes.subarray(4, 8)) !== 'ftyp') return true;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset + 16 <= bytes.length) {
    const size = view.getUint32(offset);
    const length = size === 1 ? view.getUint32(offset + 8) * 2 ** 32 + view.getUint32(offset + 12) : size;
    if (length < 8) return false;
    if (latin1(bytes.subarray(offset + 4, offset + 8)) === 'meta') return true;
    offset += length;
  }
  return false;
}

/**
 * PNG text chunks or JPEG comments, whichever the file is.
 * @param {Uint8Array} bytes the whole file
 * @returns {Promise<{source: string, keyword: string, text: string}[]>}
 */
export async function readTexts(bytes) {
  if (PNG_SIGNATURE.every((byte, i) => bytes[i] === byte)) return readPngTexts(bytes);
  if (isJpeg(bytes)) return readJpegComments(bytes);
  return [];
}

/**
 * The chunks of a PNG file up to IEND.
 * @param {Uint8Array} bytes the whole file
 * @returns {Generator<{type: string, data: Uint8Array}>}
 */
function* pngChunks(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = PNG_SIGNATURE.length;
  while (offset + 8 <= bytes.length) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    if (type === 'IEND') return;
    yield { type, data: bytes.subarray(offset + 8, offset + 8 + length) };
    offset += 12 + length; // length, type, data, CRC
  }
}

/**
 * The PNG text chunks and tIME, decoded.
 * @param {Uint8Array} bytes the whole file
 * @returns {Promise<{source: string, keyword: string, text: string}[]>}
 */
async function readPngTexts(bytes) {
  const texts = [];
  for (const { type, data } of pngChunks(bytes)) {
    if (type === 'tIME') texts.push({ source: 'PNG tIME chunk', keyword: 'tIME', text: pngTime(data) });
    else if (PNG_TEXT_CHUNKS.includes(type) && data.length <= MAX_TEXT_BYTES) texts.push(await pngText(type, data));
  }
  return texts;
}

/**
 * The media type to read Content Credentials as, when the file carries a C2PA manifest (a JPEG APP11
 * segment or a PNG caBX chunk); null otherwise, so the C2PA module is loaded only when needed.
 * @param {Uint8Array} bytes
 * @returns {'image/jpeg' | 'image/png' | null}
 */
export function c2paFormat(bytes) {
  if (isJpeg(bytes)) {
    const carries = jpegSegments(bytes).segments.some(({ marker, data }) => marker === JPEG_APP11 && latin1(data).includes(C2PA_LABEL));
    return carries ? 'image/jpeg' : null;
  }
  if (PNG_SIGNATURE.every((byte, i) => bytes[i] === byte)) {
    return [...pngChunks(bytes)].some(({ type }) => type === PNG_C2PA_CHUNK) ? 'image/png' : null;
  }
  return null;
}

/**
 * One tEXt, zTXt or iTXt chunk as keyword and text.
 * @param {string} type
 * @param {Uint8Array} data
 * @returns {Promise<{source: string, keyword: string, text: string}>}
 */
async function pngText(type, data) {
  const keywordEnd = data.indexOf(0);
  const keyword = latin1(data.subarray(0, keywordEnd));
  const source = `PNG ${type} chunk "${keyword}"`;
  if (type === 'tEXt') return { source, keyword, text: latin1(data.subarray(keywordEnd + 1)) };
  if (type === 'zTXt') return { source, keyword, text: latin1(await inflate(data.subarray(keywordEnd + 2))) };
  // iTXt: keyword, compression flag, method, language tag, translated keyword, UTF-8 text.
  const compressed = data[keywordEnd + 1] === 1;
  const languageEnd = data.indexOf(0, keywordEnd + 3);
  const translatedEnd = data.indexOf(0, languageEnd + 1);
  const body = data.subarray(translatedEnd + 1);
  return { source, keyword, text: new TextDecoder().decode(compressed ? await inflate(body) : body) };
}

/**
 * The PNG tIME chunk (last modification, UTC) as "YYYY-MM-DD HH:MM:SS UTC".
 * @param {Uint8Array} data
 * @returns {string}
 */
function pngTime(data) {
  const year = (data[0] << 8) | data[1];
  const two = (value) => String(value).padStart(2, '0');
  return `${year}-${two(data[2])}-${two(data[3])} ${two(data[4])}:${two(data[5])}:${two(data[6])} UTC`;
}

/**
 * zlib-inflates a compressed text, stopping at MAX_TEXT_BYTES (a small chunk can inflate to gigabytes).
 * @param {Uint8Array} compressed
 * @returns {Promise<Uint8Array>}
 */
async function inflate(compressed) {
  const reader = new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (compressed)]).stream().pipeThrough(new DecompressionStream('deflate')).getReader();
  const parts = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    size += value.length;
    if (size > MAX_TEXT_BYTES) {
      await reader.cancel();
      break;
    }
  }
  const joined = new Uint8Array(size);
  parts.reduce((at, part) => (joined.set(part, at), at + part.length), 0);
  return joined;
}

/**
 * Latin-1 bytes (what tEXt and zTXt hold) as a string.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
function latin1(bytes) {
  return new TextDecoder('latin1').decode(bytes);
}

/**
 * The JPEG marker segments before the image data, and whether `bytes` reached the image data (all the
 * metadata is then in `bytes`).
 * @param {Uint8Array} bytes the file or its head
 * @returns {{segments: {marker: number, data: Uint8Array}[], complete: boolean}}
 */
function jpegSegments(bytes) {
  const segments = [];
  let offset = 2;
  while (offset + 4 <= bytes.length && bytes[offset] === 0xff) {
    const marker = bytes[offset + 1];
    if (marker === 0xff) {
      offset += 1; // fill byte
    } else if (JPEG_STANDALONE.has(marker)) {
      offset += 2;
    } else if (marker === JPEG_SOS || marker === JPEG_EOI) {
      return { segments, complete: true };
    } else {
      const end = offset + 2 + ((bytes[offset + 2] << 8) | bytes[offset + 3]);
      segments.push({ marker, data: bytes.subarray(offset + 4, end) });
      offset = end;
    }
  }
  return { segments, complete: false };
}

/**
 * The JPEG comment segments (COM).
 * @param {Uint8Array} bytes
 * @returns {{source: string, keyword: string, text: string}[]}
 */
function readJpegComments(bytes) {
  return jpegSegments(bytes)
    .segments.filter(({ marker }) => marker === JPEG_COM)
    .map(({ data }) => ({ source: 'JPEG comment', keyword: 'comment', text: decodeComment(data) }));
}

/**
 * A JPEG comment: UTF-8 when it is valid UTF-8, else Latin-1 (the format names no encoding).
 * @param {Uint8Array} data
 * @returns {string}
 */
function decodeComment(data) {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    return latin1(data);
  }
}

/**
 * The media type to read a video's Content Credentials as: 'video/mp4' when an MP4/MOV file has a
 * top-level C2PA `uuid` box, else null. Only the box headers are read (a video can be gigabytes).
 * @param {Blob} blob
 * @returns {Promise<'video/mp4' | null>}
 */
export async function videoC2paFormat(blob) {
  let offset = 0;
  for (let box = 0; box < MAX_TOP_LEVEL_BOXES && offset + 8 <= blob.size; box++) {
    const head = new Uint8Array(await blob.slice(offset, offset + 32).arrayBuffer());
    const view = new DataView(head.buffer);
    const type = latin1(head.subarray(4, 8));
    if (box === 0 && type !== 'ftyp') return null;
    const size = view.getUint32(0);
    const large = size === 1;
    const length = large ? view.getUint32(8) * 2 ** 32 + view.getUint32(12) : size;
    const userType = head.subarray(large ? 16 : 8, (large ? 16 : 8) + 16);
    if (type === 'uuid' && Array.from(userType, (byte) => byte.toString(16).padStart(2, '0')).join('') === BMFF_C2PA_UUID) {
      return 'video/mp4';
    }
    if (length < 8) return null; // 0: the box runs to the end of the file
    offset += length;
  }
  return null;
}

/**
 * The provenance reader: what a file says about itself (camera, software, dates, a declaration of AI
 * generation, C2PA Content Credentials), read on this device in the classifier worker. EXIF, XMP and IPTC
 * come from exifr (served by us from /vendor/); PNG text chunks (tEXt, zTXt, iTXt, and tIME) and JPEG
 * comments are read here; Content Credentials by provenance-c2pa.js.
 *
 * The answer is a small plain object for the page. Only its `kind` ever goes into the verdict log; the
 * rest (GPS included) stays on the device.
 */
import exifr from '/vendor/exifr/full.esm.mjs';
import { readCredential, sourceTypeCode } from './provenance-c2pa.js';

/** exifr's segments: no thumbnail, no colour profile; dates and codes as the file writes them. */
const EXIFR_OPTIONS = {
  tiff: true,
  ifd0: true,
  exif: true,
  gps: true,
  xmp: true,
  iptc: true,
  icc: false,
  ihdr: false,
  ifd1: false,
  jfif: false,
  interop: false,
  makerNote: false,
  userComment: false,
  mergeOutput: false,
  reviveValues: false,
  translateValues: false,
};
/** exifr's answer for formats it has no reader for (GIF, BMP): no metadata, not a problem. */
const EXIFR_UNKNOWN_FORMAT = 'Unknown file format';
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const PNG_TEXT_CHUNKS = ['tEXt', 'zTXt', 'iTXt'];
const PNG_XMP_KEYWORD = 'XML:com.adobe.xmp';
const JPEG_SOI = 0xd8;
const JPEG_SOS = 0xda;
const JPEG_EOI = 0xd9;
const JPEG_COM = 0xfe;
/** APP11: where JPEG files carry JUMBF boxes, C2PA manifests among them. */
const JPEG_APP11 = 0xeb;
/** The JUMBF label of a C2PA manifest store (APP11 also carries other JUMBF boxes). */
const C2PA_LABEL = 'c2pa';
/** The PNG chunk that carries a C2PA manifest store. */
const PNG_C2PA_CHUNK = 'caBX';
/** Markers without a length field: TEM, RST0-7. */
const JPEG_STANDALONE = new Set([0x01, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7]);
/** A JPEG's metadata segments (at most 64 kB each) almost always fit in its first megabyte. */
const JPEG_HEAD_BYTES = 1024 * 1024;
/** A text chunk or comment larger than this is skipped (a ComfyUI workflow is tens of kB). */
const MAX_TEXT_BYTES = 4 * 1024 * 1024;
/** How much of each text the panel gets: enough to recognise a prompt, not a wall of JSON. */
const MAX_SHOWN_CHARS = 400;
/** Text chunks and comments passed to the page, at most. */
const MAX_TEXTS = 12;
/** IPTC DigitalSourceType codes (XMP Iptc4xmpExt:DigitalSourceType, a URI ending in the code). */
const AI_SOURCE_TYPES = {
  trainedAlgorithmicMedia: 'made by a generative AI model',
  compositeWithTrainedAlgorithmicMedia: 'a composite with parts made by a generative AI model',
};
const EDITED_SOURCE_TYPES = new Set(['minorHumanEdits', 'compositeCapture', 'composite', 'compositeSynthetic']);
const CAMERA_SOURCE_TYPES = new Set(['digitalCapture', 'computationalCapture']);
/** PNG text keywords that only image generators write, and who writes them. */
const GENERATOR_KEYWORDS = {
  parameters: 'Stable Diffusion web UI', // AUTOMATIC1111, Forge and compatible front-ends
  prompt: 'ComfyUI',
  workflow: 'ComfyUI',
  invokeai_metadata: 'InvokeAI',
  'sd-metadata': 'InvokeAI',
  Dream: 'InvokeAI',
};
/**
 * A Software value that is a camera's or phone's own firmware rather than an editor: a bare version
 * ("1.0.2", "Ver.1.00"), a phone system ("iOS 17.1") or firmware by name.
 */
const FIRMWARE_PATTERN = /^(?:(?:v|ver|version)\.?\s*)?\d+(?:\.\d+)*\b|^(?:iOS|Android|HarmonyOS)\b|firmware/i;
/** "Model: sd_xl_base_1.0" in an AUTOMATIC1111 parameters text. */
const PARAMETERS_MODEL_PATTERN = /(?:^|,\s*)Model:\s*([^,\n]{1,80})/;

/**
 * @typedef {object} Provenance
 * @property {'none'|'camera'|'edited'|'declared_ai'|'credential_valid'|'credential_invalid'} kind what the
 *   verdict log records
 * @property {boolean} found whether the file holds any metadata at all
 * @property {{make: string|null, model: string|null, lens: string|null} | null} camera
 * @property {string[]} software editors and tools named by the file
 * @property {{label: string, value: string}[]} dates
 * @property {{field: string, tool: string, meaning: string} | null} declaration of AI generation
 * @property {{source: string, text: string}[]} texts PNG text chunks and JPEG comments, shortened
 * @property {{latitude: number, longitude: number} | null} gps shown only when the user asks
 * @property {import('./provenance-c2pa.js').Credential | null} credential C2PA Content Credentials
 * @property {string | null} problem why part of the metadata could not be read
 * @property {number} readMs time spent reading
 */

/**
 * Reads what a file says about itself. Never throws: a file whose metadata is damaged still gets a
 * verdict, with `problem` saying what could not be read.
 * @param {Blob} blob
 * @returns {Promise<Provenance>}
 */
export async function readProvenance(blob) {
  const start = performance.now();
  const problems = [];
  const bytes = await metadataBytes(blob);
  const credentialFormat = c2paFormat(bytes);
  const [tags, texts, credential] = await Promise.all([
    safeForExifr(bytes)
      ? exifr.parse(bytes, EXIFR_OPTIONS).catch((error) => {
          if (error.message !== EXIFR_UNKNOWN_FORMAT) problems.push(`EXIF/XMP/IPTC: ${error.message}`);
          return undefined;
        })
      : undefined,
    readTexts(bytes).catch((error) => {
      problems.push(`text chunks: ${error.message}`);
      return [];
    }),
    credentialFormat &&
      readCredential(blob, credentialFormat).catch((error) => {
        problems.push(`Content Credentials: ${error.message}`);
        return null;
      }),
  ]);
  const provenance = describe(tags ?? {}, texts, credential || null);
  provenance.problem = problems.length ? `Part of the metadata could not be read (${problems.join('; ')}).` : null;
  provenance.readMs = performance.now() - start;
  return provenance;
}

/**
 * The part of the file that holds its metadata, in one read: many small reads of a Blob (exifr's own, or
 * one per PNG chunk) cost far more (bench/provenance_reader.py). A JPEG's metadata all comes before its
 * image data, so its head is enough; other files are read whole (PNG text may follow the image data).
 * @param {Blob} blob
 * @returns {Promise<Uint8Array>}
 */
async function metadataBytes(blob) {
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
function safeForExifr(bytes) {
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
async function readTexts(bytes) {
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
function c2paFormat(bytes) {
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
  const reader = new Blob([compressed]).stream().pipeThrough(new DecompressionStream('deflate')).getReader();
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
 * A tag value as one clean line of text, or null when empty.
 * @param {unknown} value
 * @returns {string | null}
 */
function clean(value) {
  if (value === undefined || value === null) return null;
  const text = (Array.isArray(value) ? value.join(', ') : typeof value === 'object' ? value.value ?? '' : String(value))
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .trim();
  return text ? shorten(text) : null;
}

/**
 * At most MAX_SHOWN_CHARS characters, with an ellipsis when cut.
 * @param {string} text
 * @returns {string}
 */
function shorten(text) {
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text;
}

/**
 * An EXIF date ("2024:04:30 09:15:00", no time zone) in ISO order, with the offset when the file gives one.
 * @param {unknown} value
 * @param {unknown} offset
 * @returns {string | null}
 */
function exifDate(value, offset) {
  const text = clean(value);
  if (!text) return null;
  const iso = text.replace(/^(\d{4}):(\d{2}):(\d{2})/, '$1-$2-$3');
  const zone = clean(offset);
  return zone ? `${iso} ${zone}` : iso;
}

/**
 * The camera as the file names it, or null.
 * @param {object} ifd0
 * @param {object} exif
 */
function cameraOf(ifd0, exif) {
  const camera = { make: clean(ifd0.Make), model: clean(ifd0.Model), lens: clean(exif.LensModel ?? exif.LensMake) };
  return camera.make || camera.model ? camera : null;
}

/**
 * The software named by the file, without repeats.
 * @param {object} tags exifr's output by segment
 * @param {{keyword: string, text: string}[]} texts
 * @returns {string[]}
 */
function softwareOf(tags, texts) {
  const named = [
    tags.ifd0?.Software,
    tags.ifd0?.ProcessingSoftware,
    tags.xmp?.CreatorTool,
    ...texts.filter(({ keyword }) => keyword === 'Software').map(({ text }) => text),
  ].map(clean);
  return [...new Set(named.filter(Boolean))];
}

/**
 * The dates the file gives, labelled, without repeats.
 * @param {object} tags
 * @param {{keyword: string, text: string}[]} texts
 * @returns {{label: string, value: string}[]}
 */
function datesOf(tags, texts) {
  const exif = tags.exif ?? {};
  const dates = [
    { label: 'Taken', value: exifDate(exif.DateTimeOriginal, exif.OffsetTimeOriginal) },
    { label: 'Digitised', value: exifDate(exif.CreateDate, exif.OffsetTimeDigitized) },
    { label: 'Changed', value: exifDate(tags.ifd0?.ModifyDate, exif.OffsetTime) },
    { label: 'Created (XMP)', value: clean(tags.xmp?.CreateDate) },
    { label: 'Changed (XMP)', value: clean(tags.xmp?.ModifyDate) },
    { label: 'Created (IPTC)', value: clean(tags.iptc?.DateCreated) },
    ...texts.filter(({ keyword }) => keyword === 'tIME' || keyword === 'Creation Time').map(({ keyword, text }) => ({
      label: keyword === 'tIME' ? 'Changed (PNG)' : 'Created (PNG)',
      value: clean(text),
    })),
  ];
  const seen = new Set();
  return dates.filter(({ value }) => value && !seen.has(value) && seen.add(value));
}

/**
 * A declaration of AI generation: an action of a valid C2PA credential, a generator's own PNG text chunk,
 * or an IPTC DigitalSourceType saying so.
 * @param {object} tags
 * @param {{source: string, keyword: string, text: string}[]} texts
 * @param {string[]} software
 * @param {import('./provenance-c2pa.js').Credential | null} credential
 * @returns {{field: string, tool: string, meaning: string} | null}
 */
function declarationOf(tags, texts, software, credential) {
  const signed = credential?.valid && credential.actions.find(({ sourceType }) => Object.hasOwn(AI_SOURCE_TYPES, sourceType));
  if (signed) {
    return {
      field: `C2PA action ${signed.action}, digitalSourceType = ${signed.sourceType} (signed)`,
      tool: shorten(signed.agent ?? credential.claimGenerator ?? 'tool not named'),
      meaning: AI_SOURCE_TYPES[signed.sourceType],
    };
  }
  const generator = texts.find(({ keyword }) => Object.hasOwn(GENERATOR_KEYWORDS, keyword));
  if (generator) {
    const model = generator.keyword === 'parameters' ? generator.text.match(PARAMETERS_MODEL_PATTERN)?.[1].trim() : null;
    const tool = GENERATOR_KEYWORDS[generator.keyword] + (model ? `, model ${model}` : '');
    return { field: generator.source, tool: shorten(tool), meaning: AI_SOURCE_TYPES.trainedAlgorithmicMedia };
  }
  const code = sourceTypeCode(clean(tags.Iptc4xmpExt?.DigitalSourceType));
  if (code && Object.hasOwn(AI_SOURCE_TYPES, code)) {
    return {
      field: `XMP Iptc4xmpExt:DigitalSourceType = ${code}`,
      tool: software[0] ?? 'tool not named',
      meaning: AI_SOURCE_TYPES[code],
    };
  }
  return null;
}

/**
 * Whether the file names an editor: software other than the camera's own firmware, or a
 * DigitalSourceType of an edited or composite picture.
 * @param {string[]} software
 * @param {object | null} camera
 * @param {string | null} sourceType
 * @returns {boolean}
 */
function isEdited(software, camera, sourceType) {
  if (sourceType && EDITED_SOURCE_TYPES.has(sourceType)) return true;
  const make = camera?.make?.toLowerCase();
  return software.some((name) => !(camera && (FIRMWARE_PATTERN.test(name) || (make && name.toLowerCase().includes(make)))));
}

/**
 * Sums up exifr's tags, the text chunks and the Content Credentials. An invalid credential comes first
 * (a warning of its own), then a declaration of AI generation, then a valid credential.
 * @param {object} tags exifr's output by segment (ifd0, exif, gps, xmp, iptc, Iptc4xmpExt, ...)
 * @param {{source: string, keyword: string, text: string}[]} texts
 * @param {import('./provenance-c2pa.js').Credential | null} credential
 * @returns {Provenance}
 */
function describe(tags, texts, credential) {
  const camera = cameraOf(tags.ifd0 ?? {}, tags.exif ?? {});
  const software = softwareOf(tags, texts);
  const declaration = declarationOf(tags, texts, software, credential);
  const sourceType = sourceTypeCode(clean(tags.Iptc4xmpExt?.DigitalSourceType));
  const { latitude, longitude } = tags.gps ?? {};
  const gps = Number.isFinite(latitude) && Number.isFinite(longitude) ? { latitude, longitude } : null;
  let kind = 'none';
  if (credential && !credential.valid) kind = 'credential_invalid';
  else if (declaration) kind = 'declared_ai';
  else if (credential) kind = 'credential_valid';
  else if (isEdited(software, camera, sourceType)) kind = 'edited';
  else if (camera || (sourceType && CAMERA_SOURCE_TYPES.has(sourceType))) kind = 'camera';
  const shown = texts
    .filter(({ keyword }) => keyword !== PNG_XMP_KEYWORD && keyword !== 'tIME')
    .slice(0, MAX_TEXTS)
    .map(({ source, text }) => ({ source, text: clean(text) ?? '' }));
  return {
    kind,
    found: Boolean(credential) || texts.length > 0 || Object.values(tags).some((segment) => segment && Object.keys(segment).length > 0),
    camera,
    software,
    dates: datesOf(tags, texts),
    declaration,
    texts: shown,
    gps,
    credential,
  };
}

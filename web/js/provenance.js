/**
 * The provenance reader: what a file says about itself (camera, software, dates, a declaration of AI
 * generation, C2PA Content Credentials), read on this device in the classifier worker. EXIF, XMP and IPTC
 * come from exifr (served by us from /vendor/); PNG text chunks (tEXt, zTXt, iTXt, and tIME) and JPEG
 * comments by provenance-containers.js; Content Credentials by provenance-c2pa.js.
 *
 * The answer is a small plain object for the page. Only its `kind` ever goes into the verdict log; the
 * rest (GPS included) stays on the device.
 */
import exifr from '/vendor/exifr/full.esm.mjs';
import { readCredential, sourceTypeCode } from './provenance-c2pa.js';
import { c2paFormat, metadataBytes, readTexts, safeForExifr, videoC2paFormat } from './provenance-containers.js';

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
/** The iTXt keyword of XMP in a PNG: read by exifr, not shown again as text. */
const PNG_XMP_KEYWORD = 'XML:com.adobe.xmp';
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
 * @property {boolean} found whether the file holds any metadata at all (of what was read)
 * @property {boolean} credentialsOnly only Content Credentials were looked for (a video)
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
  provenance.credentialsOnly = false;
  provenance.problem = problems.length ? `Part of the metadata could not be read (${problems.join('; ')}).` : null;
  provenance.readMs = performance.now() - start;
  return provenance;
}

/**
 * What a video file says about itself: its C2PA Content Credentials (MP4 and MOV). Other container
 * metadata of videos is not read. Never throws, like readProvenance.
 * @param {Blob} blob
 * @returns {Promise<Provenance>}
 */
export async function readVideoProvenance(blob) {
  const start = performance.now();
  let problem = null;
  let credential = null;
  try {
    const format = await videoC2paFormat(blob);
    if (format) credential = await readCredential(blob, format);
  } catch (error) {
    problem = `The Content Credentials could not be read (${error.message}).`;
  }
  return { ...describe({}, [], credential), credentialsOnly: true, problem, readMs: performance.now() - start };
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

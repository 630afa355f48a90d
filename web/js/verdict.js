// @ts-check
/**
 * What a probability means, and the verdict log that is the only thing sent to the server.
 */

/** localStorage key of the "Keep file names in my history" preference, shared by the image and video pages. */
const KEEP_FILE_NAMES_KEY = 'unmask.keepFileNames';
/**
 * The verdict log's `provenance` (what the file said about itself, the only thing of its metadata that is
 * sent) in words; a log without it predates the field.
 */
export const PROVENANCE_WORDS = {
  none: 'no metadata signal',
  camera: 'camera',
  edited: 'edited',
  declared_ai: 'declared AI',
  credential_valid: 'valid content credential',
  credential_invalid: 'invalid content credential',
};
/** Absorbs binary floating point (0.29 * 100 is 28.999999999999996), far below what is shown. */
const PERCENT_EPSILON = 1e-9;

/**
 * Restores the "Keep file names" checkbox from the saved preference and saves each change.
 * @param {HTMLInputElement} checkbox
 */
export function rememberKeepFileNames(checkbox) {
  checkbox.checked = localStorage.getItem(KEEP_FILE_NAMES_KEY) === 'true';
  checkbox.addEventListener('change', () => localStorage.setItem(KEEP_FILE_NAMES_KEY, String(checkbox.checked)));
}

/**
 * The verdict for a probability under the model card's policy.
 * @param {number} probability calibrated fake probability in [0, 1]
 * @param {{threshold: number, uncertain_band: [number, number]}} metadata
 * @returns {{verdict: 'real'|'deepfake', uncertain: boolean}}
 */
export function judge(probability, metadata) {
  const [low, high] = metadata.uncertain_band;
  return {
    verdict: probability >= metadata.threshold ? 'deepfake' : 'real',
    uncertain: probability >= low && probability < high,
  };
}

/**
 * The verdict in a word or two for lists: "Deepfake" or "Not detected", never "Real" (a low score does not
 * prove a picture authentic; see `verdictHeadline`).
 * @param {'real'|'deepfake'} verdict
 * @returns {string}
 */
export function verdictWord(verdict) {
  return verdict === 'deepfake' ? 'Deepfake' : 'Not detected';
}

/**
 * The verdict line of a result: "Likely deepfake", "Not detected by this model", or "Uncertain (leaning
 * deepfake)" / "Uncertain (leaning not detected)". Never "Real": the model finds traces of the generators it
 * knows, so a low score does not prove that a picture is authentic. This and `verdictMeaning` are the one
 * place the page words a verdict.
 * @param {{verdict: 'real'|'deepfake', uncertain: boolean}} judgement
 * @returns {string}
 */
export function verdictHeadline({ verdict, uncertain }) {
  if (uncertain) return `Uncertain (leaning ${verdict === 'deepfake' ? 'deepfake' : 'not detected'})`;
  return verdict === 'deepfake' ? 'Likely deepfake' : 'Not detected by this model';
}

/**
 * How many of a model card's test faces a rate applies to: "94 of 911", summed over its sources.
 * @param {{images: number}[]} sources `operating_point.generators` or `.real_sources`
 * @param {string} rate the field holding each source's rate
 * @returns {{hits: number, total: number}}
 */
function countOf(sources, rate) {
  return sources.reduce(
    (sum, source) => ({ hits: sum.hits + Math.round(source[rate] * source.images), total: sum.total + source.images }),
    { hits: 0, total: 0 },
  );
}

/**
 * One plain sentence of what a verdict means for this model, from its measured rates (the model card's
 * operating point) in words: how many fakes it misses behind "not detected", how many real photos it flags.
 * @param {{verdict: 'real'|'deepfake', uncertain: boolean}} judgement
 * @param {{operating_point?: {generators?: object[], real_sources?: object[]}}} metadata
 * @param {string} [subject] what was judged: "picture", "face", "clip"
 * @returns {string}
 */
export function verdictMeaning({ verdict, uncertain }, metadata, subject = 'picture') {
  if (uncertain) return `The score is close to the line where the verdict changes: this model cannot tell for this ${subject}.`;
  const point = metadata.operating_point ?? {};
  if (verdict === 'deepfake') {
    const { hits, total } = countOf(point.real_sources ?? [], 'false_positive_rate');
    return total
      ? `In its tests this model wrongly flagged ${hits} of ${total} real photos it had never seen, so this is strong evidence, not proof.`
      : 'This is evidence, not proof: the model can be wrong.';
  }
  const { hits, total } = countOf(point.generators ?? [], 'detection_rate');
  return total
    ? `In its tests this model caught ${hits} of ${total} generated or swapped faces it had never seen; the others also ` +
      `read "not detected", so this does not show that the ${subject} is authentic.`
    : `This model only knows the generators it was trained on, so this does not show that the ${subject} is authentic.`;
}

/**
 * A probability as a whole percentage ("73%"), keeping "<1%" and ">99%" honest at the ends. Truncated,
 * not rounded: the shown number then always falls on the same side of the verdict threshold and the
 * uncertain band's edges (whole percentages) as the probability itself (0.4951 is "49%", not "50%").
 * @param {number} probability
 * @returns {string}
 */
export function formatPercent(probability) {
  const percent = probability * 100;
  if (percent > 0 && percent < 1) return '<1%';
  if (percent > 99 && percent < 100) return '>99%';
  return `${Math.floor(percent + PERCENT_EPSILON)}%`;
}

/**
 * How many faces a result's verdict was judged on: 0 when the whole picture was judged instead.
 * @param {{whole: boolean, faces: {tooSmall: boolean}[]}} result
 * @returns {number}
 */
export function judgedFaces(result) {
  return result.whole ? 0 : result.faces.filter((face) => !face.tooSmall).length;
}

/**
 * The clip's part of a video's verdict log.
 * @typedef {object} VideoSummary
 * @property {number} frames frames judged
 * @property {number} duration_s
 * @property {number} mean_probability
 * @property {number} max_probability
 * @property {number} share_flagged
 */

/**
 * The body of POST /api/verdicts: the fields of `verdict-log.schema.json`, which `unmask export` writes
 * beside the model card from unmask/contract.py.
 * @typedef {object} VerdictLog
 * @property {string} id
 * @property {'image'|'video'} kind
 * @property {string} image_sha256
 * @property {number} width
 * @property {number} height
 * @property {number} probability
 * @property {'real'|'deepfake'} verdict
 * @property {boolean} uncertain
 * @property {string} model_version
 * @property {string} backend
 * @property {number} inference_ms
 * @property {string} analysed_at
 * @property {number} faces
 * @property {string} [provenance]
 * @property {string} [label]
 * @property {string} [file_name]
 * @property {VideoSummary} [video]
 */

/**
 * The verdict log for one analysed image or clip: no pixels, no file content, the file name only if asked.
 * @param {object} analysis
 * @param {{probability: number, width: number, height: number, sha256: string, backend: string, inferenceMs: number,
 *   whole: boolean, faces: {tooSmall: boolean}[], provenance: {kind: string} | null}} analysis.result
 *   `probability` is the most suspicious face's (a clip's: its score)
 * @param {{version: string, threshold: number, uncertain_band: [number, number]}} analysis.metadata the model card
 * @param {string} analysis.fileName
 * @param {boolean} analysis.keepFileName
 * @param {string} [analysis.label]
 * @param {{summary: VideoSummary, mostFaces: number}} [analysis.video] a clip's numbers and the most faces
 *   judged in one of its frames (0 when whole frames were judged)
 * @returns {VerdictLog}
 */
export function verdictLog({ result, metadata, fileName, keepFileName, label, video }) {
  const { verdict, uncertain } = judge(result.probability, metadata);
  /** @type {VerdictLog} */
  const log = {
    id: crypto.randomUUID(),
    kind: video ? 'video' : 'image',
    image_sha256: result.sha256,
    width: result.width,
    height: result.height,
    probability: result.probability,
    verdict,
    uncertain,
    model_version: metadata.version,
    backend: result.backend,
    inference_ms: Math.round(result.inferenceMs * 10) / 10,
    analysed_at: new Date().toISOString(),
    faces: video ? video.mostFaces : judgedFaces(result),
  };
  if (video) log.video = video.summary;
  if (result.provenance) log.provenance = result.provenance.kind; // one word; nothing else of the metadata
  if (label) log.label = label;
  if (keepFileName) log.file_name = fileName;
  return log;
}

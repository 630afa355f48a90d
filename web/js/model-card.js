// @ts-check
/**
 * The model card (/model/metadata.json, written by `unmask export` from unmask/contract.py): the page's only
 * source of the verdict policy. Nothing here repeats a number of it; `checkCard` refuses a card the page
 * cannot work with, so that a wrong deployment fails at load with a clear message, not with odd verdicts.
 */

/**
 * @typedef {object} OutputSpec
 * @property {string} node the graph node to fetch
 * @property {number[]} shape
 * @property {string} meaning
 */

/**
 * The parts of metadata.json that the page reads.
 * @typedef {object} ModelCard
 * @property {string} version
 * @property {{name: string, shape: number[], dtype: string, range: [number, number]}} input
 * @property {{probability: OutputSpec, evidence: OutputSpec}} outputs
 * @property {number} threshold a calibrated probability at or above it is a "deepfake" verdict
 * @property {[number, number]} uncertain_band probabilities in [low, high) are shown as uncertain
 * @property {number} min_face_crop_px a face whose crop is smaller is not judged
 * @property {number} min_picture_side_px a picture judged whole needs this much on its shorter side
 * @property {number} min_pixel_spread a picture whose largest channel standard deviation is below is flat
 * @property {number} video_flagged_percent share of judged frames (%) at or above the threshold that makes a
 *   clip a deepfake
 * @property {string} [verdict_log_schema] file name of the verdict log's JSON Schema, beside the card
 * @property {string[]} [limitations]
 * @property {Record<string, any>} [metrics]
 * @property {Record<string, any>} [training_data]
 * @property {string} training_summary the training data in a few words
 * @property {Record<string, any>} [operating_point]
 */

/** The card's policy keys that must be numbers. */
const NUMBER_KEYS = /** @type {const} */ ([
  'threshold', 'min_face_crop_px', 'min_picture_side_px', 'min_pixel_spread', 'video_flagged_percent',
]);

/**
 * The card, checked against what this page makes and reads.
 * @param {any} card the parsed metadata.json
 * @param {number} inputSize the side of the square input preprocess.js makes
 * @returns {ModelCard}
 * @throws {Error} saying what in the card the page cannot work with
 */
export function checkCard(card, inputSize) {
  if (!card || typeof card !== 'object') throw new Error('The model description is not a JSON object.');
  const expected = [1, inputSize, inputSize, 3];
  const shape = card.input?.shape;
  if (!Array.isArray(shape) || shape.join() !== expected.join()) {
    throw new Error(`The model takes input of shape [${shape}], but this page makes [${expected}]: update the page or the model.`);
  }
  for (const output of ['probability', 'evidence']) {
    if (typeof card.outputs?.[output]?.node !== 'string') throw new Error(`The model has no ${output} output.`);
  }
  for (const key of NUMBER_KEYS) {
    if (typeof card[key] !== 'number' || !Number.isFinite(card[key])) {
      throw new Error(`The model description has no ${key}: it was written by an older export.`);
    }
  }
  const band = card.uncertain_band;
  if (!Array.isArray(band) || band.length !== 2 || !(band[0] <= band[1])) {
    throw new Error('The model description has no valid uncertain_band.');
  }
  return card;
}

// @ts-check
/**
 * How a clip is judged from its sampled frames. The rule, stated on the page as well, with its numbers from
 * the model card (P is the card's video_flagged_percent):
 *
 *   The clip is a deepfake if at least P % of the sampled frames score at or above the
 *   model's threshold, or if the mean of all frame scores does. It is uncertain when the clip's score lies
 *   in the model's uncertain band (metadata.uncertain_band), as for a single image.
 *
 * The verdict log holds one number, `probability`, and the server requires verdict = "deepfake" exactly
 * when probability >= threshold. The clip's score is therefore built so that this holds for the rule:
 *
 *   score = max(mean, q)   where q is the k-th highest frame score, k = ceil(P % of n).
 *
 * q >= threshold exactly when at least k frames score >= threshold, i.e. when the flagged share reaches
 * P %; so score >= threshold exactly when the rule says deepfake. The score stays a
 * number in [0, 1] on the same scale as the frame probabilities (it is one of them, or their mean).
 */
import { judge } from './verdict.js';

/**
 * Frames needed above the threshold for the share rule: ceil(percent % of n), in integers so that no
 * rounding of 0.3 * n can move it.
 * @param {number} frames
 * @param {number} percent the card's video_flagged_percent (a whole number)
 * @returns {number}
 */
function framesNeeded(frames, percent) {
  return Math.max(1, Math.ceil((frames * percent) / 100));
}

/**
 * The clip's aggregate numbers and verdict from its frame probabilities.
 * @param {number[]} probabilities one per sampled frame (at least one)
 * @param {{threshold: number, uncertain_band: [number, number], video_flagged_percent: number}} metadata
 * @returns {{score: number, mean: number, max: number, shareFlagged: number, flagged: number, needed: number,
 *   verdict: 'real'|'deepfake', uncertain: boolean}}
 */
export function aggregate(probabilities, metadata) {
  const frames = probabilities.length;
  if (!frames) throw new Error('No frame was analysed.');
  const descending = [...probabilities].sort((a, b) => b - a);
  const mean = probabilities.reduce((sum, p) => sum + p, 0) / frames;
  const flagged = probabilities.filter((p) => p >= metadata.threshold).length;
  const needed = framesNeeded(frames, metadata.video_flagged_percent);
  const score = Math.min(1, Math.max(mean, descending[needed - 1]));
  return {
    score,
    mean,
    max: descending[0],
    shareFlagged: flagged / frames,
    flagged,
    needed,
    ...judge(score, metadata),
  };
}

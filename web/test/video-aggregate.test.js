// @ts-check
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { aggregate } from '../js/video-aggregate.js';

/** @param {number} percent */
const card = (percent) => ({
  threshold: 0.5, uncertain_band: /** @type {[number, number]} */ ([0.35, 0.65]), video_flagged_percent: percent,
});
/** @param {number} flagged @param {number} frames */
const clip = (flagged, frames) => [...Array(frames)].map((_, i) => (i < flagged ? 0.9 : 0.1));

test('a clip with the card\'s share of flagged frames is a deepfake', () => {
  const result = aggregate(clip(3, 10), card(30));
  assert.equal(result.verdict, 'deepfake');
  assert.equal(result.score, 0.9);
});

test('one frame short of the share is not, while its mean stays low', () => {
  const result = aggregate(clip(2, 10), card(30));
  assert.equal(result.verdict, 'real');
  assert.ok(result.score < 0.5);
});

test('the share comes from the card: a stricter card needs more frames', () => {
  assert.equal(aggregate(clip(3, 10), card(50)).verdict, 'real');
  assert.equal(aggregate(clip(5, 10), card(50)).verdict, 'deepfake');
});

test('no rounding of 30% of 10 (3.0000000000000004 in floating point) asks for a fourth frame', () => {
  assert.equal(aggregate(clip(3, 10), card(30)).needed, 3);
});

test('a mean at the threshold makes a deepfake when the flagged share is short', () => {
  const result = aggregate([0.49, 0.49, 0.49, 0.53], card(100));
  assert.equal(result.verdict, 'deepfake');
  assert.equal(result.score, result.mean);
});

test('the clip is uncertain when its score is in the band', () => {
  const result = aggregate([0.4, 0.45, 0.42], card(30));
  assert.equal(result.uncertain, true);
  assert.equal(result.verdict, 'real');
});

test('a clip without a judged frame is an error, not a verdict', () => {
  assert.throws(() => aggregate([], card(30)), /No frame was analysed/);
});

// @ts-check
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { formatPercent, judge, judgedFaces, verdictHeadline, verdictWord } from '../js/verdict.js';

const CARD = { threshold: 0.5, uncertain_band: /** @type {[number, number]} */ ([0.35, 0.65]) };

test('the threshold itself is a deepfake verdict, just below it is not', () => {
  assert.equal(judge(0.5, CARD).verdict, 'deepfake');
  assert.equal(judge(0.4999, CARD).verdict, 'real');
});

test('the verdict follows the card: another threshold moves it', () => {
  assert.equal(judge(0.6, { ...CARD, threshold: 0.7 }).verdict, 'real');
});

test('the uncertain band includes its low edge and excludes its high edge', () => {
  assert.equal(judge(0.35, CARD).uncertain, true);
  assert.equal(judge(0.65, CARD).uncertain, false);
  assert.equal(judge(0.3499, CARD).uncertain, false);
});

test('headlines never call a picture real', () => {
  assert.equal(verdictHeadline({ verdict: 'deepfake', uncertain: false }), 'Likely deepfake');
  assert.equal(verdictHeadline({ verdict: 'real', uncertain: false }), 'Not detected by this model');
  assert.equal(verdictHeadline({ verdict: 'real', uncertain: true }), 'Uncertain (leaning not detected)');
  assert.equal(verdictHeadline({ verdict: 'deepfake', uncertain: true }), 'Uncertain (leaning deepfake)');
});

test('a low score is "Not detected" in lists', () => {
  assert.equal(verdictWord('real'), 'Not detected');
  assert.equal(verdictWord('deepfake'), 'Deepfake');
});

test('percentages are truncated, so they never cross the threshold the probability is on', () => {
  assert.equal(formatPercent(0.4999), '49%');
  assert.equal(formatPercent(0.29), '29%');
  assert.equal(formatPercent(0.004), '<1%');
  assert.equal(formatPercent(0.996), '>99%');
  assert.equal(formatPercent(0), '0%');
  assert.equal(formatPercent(1), '100%');
});

test('faces too small to judge do not count, and a whole picture counts none', () => {
  const faces = [{ tooSmall: false }, { tooSmall: true }, { tooSmall: false }];
  assert.equal(judgedFaces({ whole: false, faces }), 2);
  assert.equal(judgedFaces({ whole: true, faces: [] }), 0);
});

// @ts-check
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { checkCard } from '../js/model-card.js';
import { INPUT_SIZE } from '../js/preprocess.js';

const SHIPPED = JSON.parse(readFileSync(new URL('../model/metadata.json', import.meta.url), 'utf8'));

test('the shipped card fits what this page makes and reads', () => {
  assert.equal(checkCard(SHIPPED, INPUT_SIZE), SHIPPED);
});

test('a card for another input size is refused, naming both shapes', () => {
  const card = { ...SHIPPED, input: { ...SHIPPED.input, shape: [1, 224, 224, 3] } };
  assert.throws(() => checkCard(card, INPUT_SIZE), /input of shape \[1,224,224,3\], but this page makes \[1,128,128,3\]/);
});

test('a card without the evidence output is refused', () => {
  const card = { ...SHIPPED, outputs: { probability: SHIPPED.outputs.probability } };
  assert.throws(() => checkCard(card, INPUT_SIZE), /no evidence output/);
});

test('a card from an export older than the policy keys is refused', () => {
  const { video_flagged_percent: _, ...card } = SHIPPED;
  assert.throws(() => checkCard(card, INPUT_SIZE), /no video_flagged_percent/);
});

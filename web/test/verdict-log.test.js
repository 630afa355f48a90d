// @ts-check
/** The browser's verdict logs against the JSON Schema that `unmask export` generated for the shipped card. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { verdictLog } from '../js/verdict.js';
import { problems } from './schema-check.js';

const MODEL_DIR = new URL('../model/', import.meta.url);
const CARD = JSON.parse(readFileSync(new URL('metadata.json', MODEL_DIR), 'utf8'));
const SCHEMA = JSON.parse(readFileSync(new URL(CARD.verdict_log_schema, MODEL_DIR), 'utf8'));

/** @param {Partial<Parameters<typeof verdictLog>[0]['result']>} [changes] */
function result(changes = {}) {
  return {
    probability: 0.83, width: 1024, height: 768, sha256: 'ab'.repeat(32), backend: 'wasm', inferenceMs: 14.56,
    whole: false, faces: [{ tooSmall: false }, { tooSmall: true }], provenance: { kind: 'camera' }, ...changes,
  };
}

test('an image log fits the schema', () => {
  const log = verdictLog({ result: result(), metadata: CARD, fileName: 'a.jpg', keepFileName: true, label: 'press' });
  assert.deepEqual(problems(SCHEMA, log), []);
  assert.equal(log.kind, 'image');
  assert.equal(log.faces, 1);
});

test('a log at every edge of the card\'s policy fits the schema', () => {
  const [low, high] = CARD.uncertain_band;
  for (const probability of [0, low, CARD.threshold, high, 1]) {
    const log = verdictLog({ result: result({ probability }), metadata: CARD, fileName: '', keepFileName: false });
    assert.deepEqual(problems(SCHEMA, log), [], `probability ${probability}`);
  }
});

test('a video log, with its clip summary, fits the schema', () => {
  const video = {
    mostFaces: 2,
    summary: { frames: 6, duration_s: 6.04, mean_probability: 0.4, max_probability: 0.9, share_flagged: 1 / 3 },
  };
  const log = verdictLog({ result: result({ faces: [] }), metadata: CARD, fileName: 'c.webm', keepFileName: false, video });
  assert.deepEqual(problems(SCHEMA, log), []);
  assert.equal(log.kind, 'video');
  assert.equal(log.faces, 2);
  assert.equal(log.file_name, undefined);
});

test('the schema refuses a verdict that contradicts the probability', () => {
  const log = verdictLog({ result: result(), metadata: CARD, fileName: '', keepFileName: false });
  assert.notDeepEqual(problems(SCHEMA, { ...log, verdict: 'real' }), []);
});

test('the schema refuses an image log with a clip summary, and a video log without one', () => {
  const log = verdictLog({ result: result(), metadata: CARD, fileName: '', keepFileName: false });
  const summary = { frames: 1, duration_s: 1, mean_probability: 0.8, max_probability: 0.8, share_flagged: 1 };
  assert.notDeepEqual(problems(SCHEMA, { ...log, video: summary }), []);
  assert.notDeepEqual(problems(SCHEMA, { ...log, kind: 'video' }), []);
});

test('no pixels or file content: nothing outside the schema\'s fields', () => {
  const log = verdictLog({ result: result(), metadata: CARD, fileName: 'a.jpg', keepFileName: true });
  assert.deepEqual(Object.keys(log).filter((key) => !(key in SCHEMA.properties)), []);
});

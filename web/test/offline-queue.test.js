// @ts-check
/**
 * The offline queue's states (saved, queued, refused) with an in-memory IndexedDB and a scripted server:
 * what is kept, what is sent again and what never is.
 */
import assert from 'node:assert/strict';
import { beforeEach, mock, test } from 'node:test';

/** Rows of the fake object store, by log id. */
const rows = new Map();

/** Completes a transaction after the current one, as IndexedDB does. @param {any} transaction @param {any} result */
function finished(transaction, result) {
  setImmediate(() => transaction.oncomplete?.());
  return { result };
}

/** The part of IndexedDB the queue uses: one database whose waiting-logs store is keyed by `log.id`. */
const fakeIndexedDB = {
  open() {
    /** @type {any} */
    const opening = {};
    opening.result = {
      objectStoreNames: { contains: () => false },
      createObjectStore() {},
      transaction() {
        /** @type {any} */
        const transaction = {};
        transaction.objectStore = () => ({
          getAll: () => finished(transaction, [...rows.values()].map((row) => structuredClone(row))),
          put: (/** @type {any} */ row) => (rows.set(row.log.id, structuredClone(row)), finished(transaction, row.log.id)),
          delete: (/** @type {string} */ id) => (rows.delete(id), finished(transaction, undefined)),
        });
        return transaction;
      },
    };
    setImmediate(() => {
      opening.onupgradeneeded?.();
      opening.onsuccess?.();
    });
    return opening;
  },
};

/** What the scripted server answers next to a POST: a status, or 'offline' for a network failure. */
let answer = /** @type {number | 'offline'} */ (201);
/** The ids the server was sent, in order. */
let posted = /** @type {string[]} */ ([]);

Object.assign(globalThis, {
  indexedDB: fakeIndexedDB,
  navigator: { onLine: true },
  async fetch(/** @type {string} */ _url, /** @type {{body: string}} */ init) {
    if (answer === 'offline') throw new TypeError('Failed to fetch');
    posted.push(JSON.parse(init.body).id);
    const body = answer < 300 ? {} : { error: 'must be true exactly when 0.35 <= probability < 0.65', field: 'uncertain' };
    return new Response(JSON.stringify(body), { status: answer });
  },
});
// The 30 s retry timer must not keep the test process alive (nor fire in the middle of a test).
mock.timers.enable({ apis: ['setTimeout'] });
const { pendingLogs, retry, saveLog, sync } = await import('../js/offline-queue.js');

const SESSION = { username: 'alice', csrf_token: 'token' };
let serial = 0;
/** A log as the page builds it (the queue reads only its id and analysed_at). */
const newLog = () => /** @type {any} */ ({ id: `log-${++serial}`, analysed_at: new Date(serial).toISOString() });

/** Turns of the event loop to wait for a report before a test fails. */
const MAX_TURNS = 1000;

/** Resolves once `condition()` holds (checked each turn of the event loop). @param {() => boolean} condition */
async function until(condition) {
  for (let turn = 0; turn < MAX_TURNS && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(condition(), 'the expected report never came');
}

/** Saves a log and collects what saveLog reports, in order. @param {any} log */
function save(log) {
  /** @type {string[]} */
  const heard = [];
  saveLog(log, SESSION, (state) => heard.push(state));
  return heard;
}

/** saveLog's first `count` reports. @param {any} log @param {number} count */
async function reports(log, count) {
  const heard = save(log);
  await until(() => heard.length >= count);
  return heard;
}

beforeEach(() => {
  rows.clear();
  posted = [];
  answer = 201;
});

test('an accepted log is reported saved and kept nowhere', async () => {
  assert.deepEqual(await reports(newLog(), 1), ['saved']);
  assert.deepEqual(await pendingLogs('alice'), []);
});

test('a log the server refuses is kept, marked with the reason, and reported refused', async () => {
  answer = 422;
  const log = newLog();
  assert.deepEqual(await reports(log, 1), ['refused']);
  const [kept] = await pendingLogs('alice');
  assert.equal(kept.id, log.id);
  assert.deepEqual(kept.refused, { status: 422, reason: 'uncertain: must be true exactly when 0.35 <= probability < 0.65' });
});

test('a refused log is not sent again on its own', async () => {
  answer = 422;
  await reports(newLog(), 1);
  answer = 201;
  posted = [];
  await sync(SESSION);
  assert.deepEqual(posted, []);
  assert.equal((await pendingLogs('alice')).length, 1);
});

test('a refused log sent again on request leaves the queue when accepted', async () => {
  answer = 422;
  await reports(newLog(), 1);
  const [kept] = await pendingLogs('alice');
  answer = 201;
  assert.equal(await retry(kept, SESSION), true);
  assert.deepEqual(await pendingLogs('alice'), []);
});

test('a log made offline is queued, then reported saved once it is sent', async () => {
  answer = 'offline';
  const log = newLog();
  const heard = save(log);
  await until(() => heard.length === 1);
  answer = 201;
  await sync(SESSION);
  await until(() => heard.length === 2);
  assert.deepEqual(heard, ['queued', 'saved']);
  assert.deepEqual(posted, [log.id]);
});

test('a server error is temporary: the log is queued, not refused', async () => {
  answer = 503;
  assert.deepEqual(await reports(newLog(), 1), ['queued']);
  assert.equal((await pendingLogs('alice'))[0].refused, undefined);
});

test('logs are kept per account', async () => {
  answer = 'offline';
  await reports(newLog(), 1);
  assert.deepEqual(await pendingLogs('bob'), []);
});

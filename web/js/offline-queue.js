// @ts-check
/**
 * Verdict logs waiting to be sent, kept in IndexedDB so that analyses made offline reach the history
 * once the connection returns. Each log carries its client-generated id, so a retry after a lost answer
 * is acknowledged by the server without creating a second row: every log is stored exactly once.
 *
 * A log the server refuses (an answer that will not change by retrying) is never silently dropped: it stays
 * on this device marked "not accepted", with the server's reason, until the user retries or discards it.
 */
import { ApiError, request } from './api.js';

/** @typedef {import('./verdict.js').VerdictLog} VerdictLog */
/** @typedef {VerdictLog & {refused?: {status: number, reason: string}}} KeptLog a log kept on this device */

const DB_NAME = 'unmask';
const DB_VERSION = 2;
const STORE = 'pending-verdicts';
/** The second store of this database: the files analysed here, by log id (local-files.js). Added in version 2. */
export const FILES_STORE = 'local-files';
const VERDICTS_URL = '/api/verdicts';
/** Answers that retrying the same log cannot change: it is kept as refused, not retried on its own. */
const PERMANENT_FAILURES = new Set([400, 409, 413, 422]);

let database = null;
let flushing = null;

/**
 * The open database (created on first use).
 * @returns {Promise<IDBDatabase>}
 */
function openDatabase() {
  database ??= new Promise((resolve, reject) => {
    const opening = indexedDB.open(DB_NAME, DB_VERSION);
    opening.onupgradeneeded = () => {
      const stores = opening.result.objectStoreNames;
      if (!stores.contains(STORE)) opening.result.createObjectStore(STORE, { keyPath: 'log.id' });
      if (!stores.contains(FILES_STORE)) opening.result.createObjectStore(FILES_STORE, { keyPath: 'id' });
    };
    opening.onsuccess = () => resolve(opening.result);
    opening.onerror = () => reject(opening.error);
  });
  return database;
}

/**
 * Runs one request against a store (the waiting logs unless named) and resolves with its result.
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest} operation
 * @param {string} [storeName]
 */
export async function withStore(mode, operation, storeName = STORE) {
  const db = await openDatabase();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(storeName, mode);
    const call = operation(transaction.objectStore(storeName));
    transaction.oncomplete = () => resolve(call.result);
    transaction.onerror = () => reject(transaction.error);
  });
}

/**
 * Logs kept on this device for `username`, oldest first; a refused one carries `refused: {status, reason}`.
 * @param {string} username
 * @returns {Promise<KeptLog[]>} verdict logs
 */
export async function pendingLogs(username) {
  const entries = await withStore('readonly', (store) => store.getAll());
  return entries
    .filter((entry) => entry.username === username)
    .map((entry) => (entry.refused ? { ...entry.log, refused: entry.refused } : entry.log))
    .sort((a, b) => a.analysed_at.localeCompare(b.analysed_at));
}

/**
 * Removes one waiting log.
 * @param {string} id
 */
export function discard(id) {
  return withStore('readwrite', (store) => store.delete(id));
}

/**
 * Removes every waiting log of `username` (the user deleted the history or the account).
 * @param {string} username
 */
export async function discardAll(username) {
  for (const log of await pendingLogs(username)) await discard(log.id);
}

/**
 * Keeps a log until the server has it (or, with `refused`, as refused by the server).
 * @param {VerdictLog} log
 * @param {string} username the account it belongs to
 * @param {{status: number, reason: string}} [refused]
 */
function enqueue(log, username, refused = undefined) {
  return withStore('readwrite', (store) => store.put(refused ? { log, username, refused } : { log, username }));
}

/** What a page says of a verdict log in each state `saveLog` reports. */
export const SAVE_STATE_TEXT = Object.freeze({
  saved: 'Saved to your history.',
  queued: 'Kept on this device; it will be sent when you are back online.',
  refused: 'Not accepted by the server; kept on this device. Retry or discard it in your history.',
});

/** Listeners of `whenSettled` promises, by log id. */
const settleWaiters = new Map();

/**
 * Resolves when this page sends the waiting log `id` ('saved') or the server refuses it ('refused').
 * @param {string} id
 * @returns {Promise<'saved'|'refused'>}
 */
function whenSettled(id) {
  return new Promise((resolve) => settleWaiters.set(id, resolve));
}

/**
 * Tells the page that waits for log `id` how it ended.
 * @param {string} id
 * @param {'saved'|'refused'} state
 */
function settle(id, state) {
  settleWaiters.get(id)?.(state);
  settleWaiters.delete(id);
}

/**
 * Keeps a verdict log on this device and sends it; `show` hears 'saved', 'queued' or 'refused', and how a
 * queued log ends once it is sent later (so the page never keeps saying it is waiting).
 * @param {VerdictLog} log
 * @param {{username: string, csrf_token: string}} session
 * @param {(state: 'saved'|'queued'|'refused') => void} show
 */
export async function saveLog(log, session, show) {
  await enqueue(log, session.username);
  const ending = whenSettled(log.id);
  const saved = await sync(session, log.id);
  if (saved) {
    show('saved');
    return;
  }
  const refused = (await pendingLogs(session.username)).some((kept) => kept.id === log.id && kept.refused);
  show(refused ? 'refused' : 'queued');
  if (!refused) ending.then(show);
}

/**
 * Sends a refused log again (after the user asked): true if the server took it this time.
 * @param {KeptLog} log a log from `pendingLogs`, with its `refused` mark
 * @param {{username: string, csrf_token: string}} session
 * @returns {Promise<boolean>}
 */
export async function retry(log, session) {
  const { refused, ...unmarked } = log;
  await enqueue(unmarked, session.username);
  return sync(session, log.id);
}

/**
 * Sends the waiting logs of `owner` (not the refused ones); stops at the first network failure or server error.
 * @param {{username: string, csrf_token: string}} owner
 * @returns {Promise<{sent: number, refused: number, remaining: number}>}
 */
async function sendPending({ username, csrf_token: csrfToken }) {
  const entries = (await withStore('readonly', (store) => store.getAll())).filter(
    (entry) => entry.username === username && !entry.refused,
  );
  let sent = 0;
  let refused = 0;
  for (const entry of entries) {
    try {
      await request('POST', VERDICTS_URL, entry.log, { csrfToken });
    } catch (error) {
      if (!(error instanceof ApiError && PERMANENT_FAILURES.has(error.status))) break;
      const reason = error.field ? `${error.field}: ${error.message}` : error.message;
      await enqueue(entry.log, username, { status: error.status, reason });
      refused++;
      settle(entry.log.id, 'refused');
      continue;
    }
    await discard(entry.log.id);
    sent++;
    settle(entry.log.id, 'saved');
  }
  return { sent, refused, remaining: entries.length - sent - refused };
}

/**
 * Sends the waiting logs of the signed-in user, one flush at a time per page.
 * @param {{username: string, csrf_token: string}} owner the (possibly remembered) session
 * @returns {Promise<{sent: number, refused: number, remaining: number}>}
 */
export function flush(owner) {
  flushing ??= sendPending(owner).finally(() => {
    flushing = null;
  });
  return flushing;
}

/** How often waiting verdict logs are retried while some remain. */
const RETRY_INTERVAL_MS = 30_000;
let retryTimer = null;

/**
 * Sends waiting verdict logs and retries later while some remain; returns whether `id` (if given) has
 * reached the server.
 * @param {{username: string, csrf_token: string}} session
 * @param {string} [id]
 * @returns {Promise<boolean>}
 */
export async function sync(session, id) {
  if (navigator.onLine) await flush(session);
  const kept = await pendingLogs(session.username);
  const pending = kept.filter((log) => !log.refused);
  if (pending.length && !retryTimer) {
    retryTimer = setTimeout(() => {
      retryTimer = null;
      sync(session);
    }, RETRY_INTERVAL_MS);
  }
  return !kept.some((log) => log.id === id);
}

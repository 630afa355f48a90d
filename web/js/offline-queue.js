/**
 * Verdict logs waiting to be sent, kept in IndexedDB so that analyses made offline reach the history
 * once the connection returns. Each log carries its client-generated id, so a retry after a lost answer
 * is acknowledged by the server without creating a second row: every log is stored exactly once.
 */
import { ApiError, request } from './api.js';

const DB_NAME = 'unmask';
const DB_VERSION = 1;
const STORE = 'pending-verdicts';
const VERDICTS_URL = '/api/verdicts';
/** Answers after which a log can never be accepted; it is dropped rather than retried forever. */
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
    opening.onupgradeneeded = () => opening.result.createObjectStore(STORE, { keyPath: 'log.id' });
    opening.onsuccess = () => resolve(opening.result);
    opening.onerror = () => reject(opening.error);
  });
  return database;
}

/**
 * Runs one request against the store and resolves with its result.
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest} operation
 */
async function withStore(mode, operation) {
  const db = await openDatabase();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(STORE, mode);
    const call = operation(transaction.objectStore(STORE));
    transaction.oncomplete = () => resolve(call.result);
    transaction.onerror = () => reject(transaction.error);
  });
}

/**
 * Logs waiting for `username`, oldest first.
 * @param {string} username
 * @returns {Promise<object[]>} verdict logs
 */
export async function pendingLogs(username) {
  const entries = await withStore('readonly', (store) => store.getAll());
  return entries
    .filter((entry) => entry.username === username)
    .map((entry) => entry.log)
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
 * Keeps a log until the server has it.
 * @param {object} log
 * @param {string} username the account it belongs to
 */
function enqueue(log, username) {
  return withStore('readwrite', (store) => store.put({ log, username }));
}

/** What a page says of a verdict log in each state `saveLog` reports. */
export const SAVE_STATE_TEXT = Object.freeze({
  saved: 'Saved to your history.',
  queued: 'Kept on this device; it will be sent when you are back online.',
});

/** Resolvers of `whenSent` promises, by log id. */
const sentWaiters = new Map();

/**
 * Resolves when this page sends the waiting log `id`.
 * @param {string} id
 * @returns {Promise<void>}
 */
function whenSent(id) {
  return new Promise((resolve) => sentWaiters.set(id, resolve));
}

/**
 * Keeps a verdict log on this device and sends it; `show` hears 'saved' or 'queued', and 'saved' again
 * once a queued log is sent later (so the page never keeps saying it is waiting).
 * @param {object} log
 * @param {{username: string, csrf_token: string}} session
 * @param {(state: 'saved'|'queued') => void} show
 */
export async function saveLog(log, session, show) {
  await enqueue(log, session.username);
  const saved = await sync(session, log.id);
  show(saved ? 'saved' : 'queued');
  if (!saved) whenSent(log.id).then(() => show('saved'));
}

/**
 * Sends the waiting logs of `owner`; stops at the first network failure or server error.
 * @param {{username: string, csrf_token: string}} owner
 * @returns {Promise<{sent: number, dropped: number, remaining: number}>}
 */
async function sendPending({ username, csrf_token: csrfToken }) {
  const entries = (await withStore('readonly', (store) => store.getAll())).filter(
    (entry) => entry.username === username,
  );
  let sent = 0;
  let dropped = 0;
  for (const entry of entries) {
    try {
      await request('POST', VERDICTS_URL, entry.log, { csrfToken });
      sent++;
      sentWaiters.get(entry.log.id)?.();
      sentWaiters.delete(entry.log.id);
    } catch (error) {
      if (!(error instanceof ApiError && PERMANENT_FAILURES.has(error.status))) break;
      console.warn(`Verdict log ${entry.log.id} was refused: ${error.message}`);
      dropped++;
    }
    await discard(entry.log.id);
  }
  return { sent, dropped, remaining: entries.length - sent - dropped };
}

/**
 * Sends the waiting logs of the signed-in user, one flush at a time per page.
 * @param {{username: string, csrf_token: string}} owner the (possibly remembered) session
 * @returns {Promise<{sent: number, dropped: number, remaining: number}>}
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
  const pending = await pendingLogs(session.username);
  if (pending.length && !retryTimer) {
    retryTimer = setTimeout(() => {
      retryTimer = null;
      sync(session);
    }, RETRY_INTERVAL_MS);
  }
  return !pending.some((log) => log.id === id);
}

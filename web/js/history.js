/**
 * The history page: the verdict logs (plus those still waiting on this device) as a sortable, filterable
 * table with delete (and undo), export of what the filters show, "Find this file", the thumbnails and file
 * names kept on this device, and two small charts.
 */
import { acceptDrops } from './analysis-page.js';
import { request } from './api.js';
import { drawProbabilityDistribution, drawVerdictsOverTime } from './charts.js';
import { forgetFile, forgetLocalFiles, localFiles } from './local-files.js';
import { discard, discardAll, flush, pendingLogs, retry } from './offline-queue.js';
import { startSignedInPage } from './page.js';
import { PROVENANCE_WORDS, formatPercent, verdictWord } from './verdict.js';
import { hashInWorker } from './video-hash.js';

const PER_PAGE = 200;
/** The table and charts cover the most recent MAX_LOGS logs. */
const MAX_LOGS = 5000;

const table = document.getElementById('history-table');
const body = table.querySelector('tbody');
/** Each column's name, shown before its cell where the table is stacked (narrow screens, app.css). */
const COLUMN_LABELS = [...table.tHead.rows[0].cells].map((header) => (header.dataset.key ? header.textContent.trim() : ''));
const status = document.getElementById('table-status');
const filter = document.getElementById('filter-verdict');
const provenanceFilter = document.getElementById('filter-provenance');
/** The provenance filter's value for logs posted without the field (by a page older than it). */
const UNKNOWN_PROVENANCE = 'unknown';
/** How long a deleted log can be brought back with "Undo" before it is deleted for good. */
const UNDO_MS = 8000;
/**
 * The page's state. `deleting`: the log in its undo time; `found`: the SHA-256 looked for with "Find this
 * file" (only its logs are shown), or null; `files`: thumbnail URL and file name kept on this device, by log
 * id (local-files.js).
 */
const state = {
  logs: [], sortKey: 'analysed_at', ascending: false, session: null, deleting: null, found: null, files: new Map(),
};

/**
 * All verdict logs on the server, newest first (up to MAX_LOGS).
 * @returns {Promise<object[]>}
 */
async function fetchLogs() {
  const logs = [];
  for (let page = 1; logs.length < MAX_LOGS; page++) {
    const answer = await request('GET', `/api/verdicts?page=${page}&per_page=${PER_PAGE}`);
    logs.push(...answer.items);
    if (answer.items.length < PER_PAGE || logs.length >= answer.total) break;
  }
  return logs;
}

/**
 * The text a log is sorted and shown by in the "Label / file" column.
 * @param {object} log
 * @returns {string}
 */
function nameOf(log) {
  return [log.label, log.file_name].filter(Boolean).join(' · ');
}

/**
 * The video numbers of a video log in a few words ("6 frames · 33% flagged"); null for an image log.
 * @param {object} log
 * @returns {string | null}
 */
function videoSummary(log) {
  if (log.kind !== 'video' || !log.video) return null;
  const { frames, share_flagged: share } = log.video;
  return `${frames} ${frames === 1 ? 'frame' : 'frames'} · ${formatPercent(share)} flagged`;
}

/** Hex digits of the SHA-256 shown in the table (the whole one is in the tooltip and the export). */
const SHORT_HASH_LENGTH = 12;

/**
 * The "Label / file" cell: the name, the start of the file's SHA-256 (what tells logs apart when no name
 * was kept), and for a video a Video badge with its frame numbers.
 * @param {object} log
 * @returns {HTMLTableCellElement}
 */
function nameCell(log) {
  const local = state.files.get(log.id);
  const td = Object.assign(document.createElement('td'), { textContent: nameOf(log) || local?.name || '—' });
  if (local) {
    const thumbnail = Object.assign(document.createElement('img'), { src: local.url, alt: '', className: 'thumbnail' });
    thumbnail.title = `${local.name} (kept on this device only)`;
    td.prepend(thumbnail);
  }
  const fingerprint = Object.assign(document.createElement('span'), {
    className: 'fingerprint',
    textContent: `SHA-256 ${log.image_sha256.slice(0, SHORT_HASH_LENGTH)}…`,
    title: log.image_sha256,
  });
  td.append(fingerprint);
  const summary = videoSummary(log);
  if (summary) {
    const details = Object.assign(document.createElement('span'), { className: 'video-summary' });
    details.append(Object.assign(document.createElement('span'), { className: 'badge video', textContent: 'Video' }), ` ${summary}`);
    td.append(details);
  }
  return td;
}

/**
 * What the file said, as the history shows and filters it: a PROVENANCE_WORDS key, or 'unknown'.
 * @param {object} log
 * @returns {string}
 */
function provenanceOf(log) {
  return log.provenance ?? UNKNOWN_PROVENANCE;
}

/**
 * Logs that pass the filters (verdict, provenance, file), in the chosen order.
 * @param {object[]} logs
 * @param {{verdict: string, provenance: string, sha256: string | null}} filters verdict: '', 'real', 'deepfake' or
 *   'uncertain'; provenance: '', a PROVENANCE_WORDS key or 'unknown'; sha256: one file's, or null for all
 * @param {string} key
 * @param {boolean} ascending
 * @returns {object[]}
 */
function visibleLogs(logs, filters, key, ascending) {
  const kept = logs.filter(
    (log) =>
      (filters.verdict === 'uncertain' ? log.uncertain : !filters.verdict || log.verdict === filters.verdict) &&
      (!filters.provenance || provenanceOf(log) === filters.provenance) &&
      (!filters.sha256 || log.image_sha256 === filters.sha256),
  );
  const value = (log) => (key === 'name' ? nameOf(log) : key === 'provenance' ? provenanceOf(log) : log[key]);
  const direction = ascending ? 1 : -1;
  return kept.sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    return direction * (typeof x === 'number' ? x - y : String(x ?? '').localeCompare(String(y ?? '')));
  });
}

/**
 * One table row.
 * @param {object} log
 * @returns {HTMLTableRowElement}
 */
function row(log) {
  const tr = document.createElement('tr');
  const cell = (text) => Object.assign(document.createElement('td'), { textContent: text });
  const when = cell(new Date(log.analysed_at).toLocaleString());
  const verdict = document.createElement('td');
  const badge = Object.assign(document.createElement('span'), {
    className: `badge ${log.verdict}`,
    textContent: `${verdictWord(log.verdict)}${log.uncertain ? ' (uncertain)' : ''}`,
  });
  verdict.append(badge);
  const actions = document.createElement('td');
  if (log.refused) {
    verdict.append(' ', Object.assign(document.createElement('span'), { className: 'badge refused', textContent: 'not accepted' }),
      Object.assign(document.createElement('span'), { className: 'refusal', textContent: ` The server refused this log (${log.refused.reason}); it is kept on this device only.` }));
    const again = Object.assign(document.createElement('button'), { type: 'button', className: 'link-button', textContent: 'Retry' });
    again.setAttribute('aria-label', `Retry sending the log of ${when.textContent}`);
    again.addEventListener('click', () => retryLog(log));
    actions.append(again, ' ');
  } else if (log.pending) {
    verdict.append(' ', Object.assign(document.createElement('span'), { className: 'badge pending', textContent: 'waiting to sync' }));
  }
  const remove = Object.assign(document.createElement('button'), { type: 'button', className: 'link-button', textContent: log.refused ? 'Discard' : 'Delete' });
  remove.setAttribute('aria-label', `${remove.textContent} the log of ${when.textContent}`);
  remove.addEventListener('click', () => deleteLog(log));
  actions.append(remove);
  const provenance = cell(PROVENANCE_WORDS[log.provenance] ?? UNKNOWN_PROVENANCE);
  tr.append(when, verdict, cell(formatPercent(log.probability)), provenance, nameCell(log), cell(log.model_version), actions);
  for (const [index, td] of [...tr.cells].entries()) td.dataset.label = COLUMN_LABELS[index];
  tr.dataset.id = log.id;
  return tr;
}

/**
 * Points the export links at what the filters show (the server applies the same filters to its export).
 * @param {{verdict: string, provenance: string, sha256: string | null}} filters
 */
function filterExports({ verdict, provenance, sha256 }) {
  const query = {};
  if (sha256) query.image_sha256 = sha256;
  if (verdict === 'uncertain') query.uncertain = 'true';
  else if (verdict) query.verdict = verdict;
  if (provenance) query.provenance = provenance;
  for (const link of document.querySelectorAll('a.export')) {
    link.href = `/api/verdicts/export?${new URLSearchParams({ format: link.dataset.format, ...query })}`;
  }
}

/** Redraws the table, the sort marks and the charts, and matches the export links to the filters. */
function render() {
  const filters = { verdict: filter.value, provenance: provenanceFilter.value, sha256: state.found };
  filterExports(filters);
  const logs = visibleLogs([...state.logs], filters, state.sortKey, state.ascending);
  body.replaceChildren(...logs.map(row));
  for (const header of table.querySelectorAll('th[data-key]')) {
    const sorted = header.dataset.key === state.sortKey;
    header.setAttribute('aria-sort', sorted ? (state.ascending ? 'ascending' : 'descending') : 'none');
  }
  status.textContent = `${logs.length} of ${state.logs.length} verdict logs shown.`;
  if (state.found) status.textContent = logs.length ? `This file was checked ${logs.length === 1 ? 'once' : `${logs.length} times`}: ${status.textContent}` : 'This file was never checked (with the filters set).';
  drawVerdictsOverTime(document.getElementById('chart-time'), state.logs);
  drawProbabilityDistribution(document.getElementById('chart-distribution'), state.logs);
}

/**
 * Deletes one log for good (on the server, or from the waiting queue); puts it back in the table if that fails.
 * @param {object} log
 */
async function deleteNow(log) {
  try {
    if (log.pending) await discard(log.id);
    else await request('DELETE', `/api/verdicts/${encodeURIComponent(log.id)}`);
    await forgetFile(log.id);
  } catch (error) {
    state.logs.push(log);
    render();
    status.textContent = `The log could not be deleted: ${error.message}`;
  }
}

/** Deletes the log whose undo time is running now, without waiting for the rest of it. */
function finishDeletion() {
  if (!state.deleting) return;
  const { log, timer } = state.deleting;
  clearTimeout(timer);
  state.deleting = null;
  deleteNow(log);
}

/**
 * Takes one log out of the table at once and deletes it once UNDO_MS have passed without "Undo".
 * @param {object} log
 */
function deleteLog(log) {
  finishDeletion(); // one undo at a time: an earlier deletion is carried out now
  state.logs = state.logs.filter((other) => other.id !== log.id);
  render();
  state.deleting = { log, timer: setTimeout(finishDeletion, UNDO_MS) };
  const undo = Object.assign(document.createElement('button'), { type: 'button', className: 'link-button', textContent: 'Undo' });
  undo.addEventListener('click', () => {
    if (state.deleting?.log !== log) return;
    clearTimeout(state.deleting.timer);
    state.deleting = null;
    state.logs.push(log);
    render();
    status.textContent = `Restored. ${status.textContent}`;
  });
  status.prepend(`Deleted the log of ${new Date(log.analysed_at).toLocaleString()}. `, undo, ' ');
  undo.focus();
}

/**
 * Sends a refused log again; the table then shows where it stands.
 * @param {object} log
 */
async function retryLog(log) {
  const accepted = await retry(log, state.session);
  await load(state.session);
  status.textContent = accepted ? 'Sent: the log is in your history now.' : 'Still not accepted; the log stays on this device.';
}

/**
 * "Find this file": its SHA-256, computed on this device, narrows the table to its logs.
 * @param {File | undefined} file
 */
async function findFile(file) {
  if (!file) return;
  status.textContent = "Computing the file's fingerprint…";
  try {
    state.found = await hashInWorker(file);
  } catch (error) {
    status.textContent = error.message;
    return;
  }
  document.getElementById('find-clear').hidden = false;
  render();
}

/**
 * Loads the server's logs and the ones waiting on this device.
 * @param {{username: string, csrf_token: string, offline: boolean}} session
 */
async function load(session) {
  if (!session.offline) await flush(session);
  const waiting = (await pendingLogs(session.username)).map((log) => ({ ...log, pending: true }));
  const stored = session.offline ? [] : await fetchLogs();
  state.logs = [...waiting, ...stored];
  for (const { url } of state.files.values()) URL.revokeObjectURL(url);
  const files = await localFiles(session.username);
  state.files = new Map([...files].map(([id, file]) => [id, { name: file.name, url: URL.createObjectURL(file.thumbnail) }]));
  render();
  if (session.offline) {
    const logs = waiting.length === 1 ? 'the 1 log' : `the ${waiting.length} logs`;
    status.textContent = `Offline: only ${logs} waiting on this device ${waiting.length === 1 ? 'is' : 'are'} shown.`;
  }
}

async function main() {
  const session = await startSignedInPage();
  state.session = session;
  for (const header of table.querySelectorAll('th[data-key]')) {
    header.querySelector('button').addEventListener('click', () => {
      state.ascending = header.dataset.key === state.sortKey ? !state.ascending : header.dataset.key !== 'analysed_at';
      state.sortKey = header.dataset.key;
      render();
    });
  }
  // Leaving the page carries out a deletion still in its undo time (keepalive: it outlives the page).
  window.addEventListener('pagehide', () => {
    const log = state.deleting?.log;
    if (!log || log.pending) return finishDeletion();
    clearTimeout(state.deleting.timer);
    state.deleting = null;
    fetch(`/api/verdicts/${encodeURIComponent(log.id)}`, {
      method: 'DELETE', keepalive: true, credentials: 'same-origin', headers: { 'X-CSRF-Token': session.csrf_token },
    });
  });
  const finder = document.getElementById('find-file');
  finder.addEventListener('change', () => findFile(finder.files[0]));
  acceptDrops(document.getElementById('find-zone'), (files) => findFile(files[0]));
  document.getElementById('find-clear').addEventListener('click', (event) => {
    state.found = null;
    finder.value = '';
    event.currentTarget.hidden = true;
    render();
  });
  filter.addEventListener('change', render);
  provenanceFilter.addEventListener('change', render);
  document.getElementById('delete-all').addEventListener('click', async () => {
    if (!window.confirm('Delete every verdict log in your history? This cannot be undone.')) return;
    clearTimeout(state.deleting?.timer); // that log goes with all the others
    state.deleting = null;
    try {
      await request('DELETE', '/api/verdicts');
      await discardAll(session.username);
      await forgetLocalFiles();
    } catch (error) {
      status.textContent = `The history could not be deleted: ${error.message}`;
      return;
    }
    state.logs = [];
    render();
  });
  await load(session);
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  status.textContent = `The history could not be loaded: ${error.message}`;
});

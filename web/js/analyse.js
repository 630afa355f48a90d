/**
 * The analyser page: files in (picker, drop, paste), one queue through the classifier worker, result
 * cards out, verdict logs to the history (queued on this device while offline).
 */
import { acceptDrops, announce, startAnalysisPage } from './analysis-page.js';
import { request } from './api.js';
import { WrongPageError, fileKind, showError } from './file-kind.js';
import { rememberFile } from './local-files.js';
import { SAVE_STATE_TEXT, saveLog } from './offline-queue.js';
import { provenanceHeadline } from './provenance-panel.js';
import { wireReport } from './report.js';
import { createCard, setCardState, setSyncState, showNoFace, showResult, summarise } from './result-card.js';
import { rememberKeepFileNames, verdictLog, verdictWord } from './verdict.js';

const elements = {
  modelMessage: document.getElementById('model-message'),
  modelProgress: document.getElementById('model-progress'),
  files: document.getElementById('files'),
  dropZone: document.getElementById('drop-zone'),
  label: document.getElementById('label'),
  keepNames: document.getElementById('keep-names'),
  batch: document.getElementById('batch'),
  batchStatus: document.getElementById('batch-status'),
  batchProgress: document.getElementById('batch-progress'),
  results: document.getElementById('results'),
  summary: document.getElementById('batch-summary'),
  compact: document.getElementById('compact-toggle'),
  clear: document.getElementById('clear-results'),
  sort: document.getElementById('sort-results'),
  template: document.getElementById('result-template'),
};

const batch = { total: 0, done: 0 };
/** Cards made so far: each card's place in the order they were added. */
let cardsAdded = 0;
let queue = Promise.resolve();
/** The batch summary's groups (a card's data-verdict), the most suspicious first. */
const SUMMARY_GROUPS = [
  ['deepfake', verdictWord('deepfake')],
  ['uncertain', 'Uncertain'],
  ['real', verdictWord('real')],
  ['no-face', 'No face to judge'],
  ['failed', 'Could not be read'],
];
/**
 * Sort keys of a card, smallest first: as added, or by fake probability, highest first (a card without one, no
 * face or unreadable or still waiting, goes after every scored card).
 * @type {Record<string, (card: HTMLElement) => number>}
 */
const SORT_KEYS = {
  added: (card) => Number(card.dataset.order),
  suspicion: (card) => {
    const probability = card.querySelector('.probability')?.getAttribute('data-probability');
    return probability == null ? 1 : -Number(probability);
  },
};
/** A batch of at least this many files opens in the compact view. */
const COMPACT_FROM = 6;

/** Updates the batch line and bar. */
function showBatchProgress() {
  elements.batch.hidden = false;
  elements.batchProgress.max = batch.total;
  elements.batchProgress.value = batch.done;
  elements.batchStatus.textContent =
    batch.done < batch.total ? `Analysing ${batch.done + 1} of ${batch.total}…` : `Analysed ${batch.total} of ${batch.total}.`;
  const cards = [...elements.results.children];
  elements.summary.textContent = SUMMARY_GROUPS
    .map(([group, word]) => [word, cards.filter((card) => card.dataset.verdict === group).length])
    .filter(([, count]) => count > 0)
    .map(([word, count]) => `${word}: ${count}`)
    .join(' · ');
  elements.clear.disabled = batch.done < batch.total; // cleared only when nothing is waiting for its card
}

/**
 * Switches the compact view (one line per card, each opening in full) on or off.
 * @param {boolean} compact
 */
function setCompact(compact) {
  elements.results.classList.toggle('compact', compact);
  elements.compact.setAttribute('aria-pressed', String(compact));
}

/** Puts the cards in the chosen order (ties: as added). */
function sortResults() {
  const key = SORT_KEYS[elements.sort.value];
  const cards = [...elements.results.children].map((card) => /** @type {HTMLElement} */ (card));
  cards.sort((a, b) => key(a) - key(b) || SORT_KEYS.added(a) - SORT_KEYS.added(b));
  elements.results.append(...cards);
}

/** Removes every card (and the pictures drawn on them) and starts the count again. */
function clearResults() {
  elements.results.replaceChildren();
  batch.total = 0;
  batch.done = 0;
  elements.batch.hidden = true;
  announce('Results cleared.');
  elements.files.focus();
}

/**
 * Shows a finished analysis and sends its verdict log (queued on this device while offline).
 * @param {File} file
 * @param {HTMLElement} card
 * @param {object} result from the classifier, with at least one judged face (or the whole picture)
 * @param {{metadata: object, session: object}} context
 */
async function report(file, card, result, { metadata, session }) {
  await showResult(card, file, result, metadata);
  const declared = provenanceHeadline(result.provenance);
  announce(declared ? `${file.name}: ${declared}.` : summarise(file.name, result.probability, metadata));
  const log = verdictLog({
    result,
    metadata,
    fileName: file.name,
    keepFileName: elements.keepNames.checked,
    label: elements.label.value.trim(),
  });
  wireReport(card, { fileName: file.name, log, result, metadata });
  const picture = card.querySelector(result.whole ? '.preview-image' : '.result-body > .faces-overview');
  await rememberFile({ id: log.id, username: session.username, name: file.name, picture }); // this device's history only
  if (!session.offline) await showEarlierChecks(card, log.image_sha256); // before this check is stored
  setSyncState(card, 'Saving…');
  await saveLog(log, session, (state) => {
    setSyncState(card, SAVE_STATE_TEXT[state]);
    card.dataset.state = state;
  });
}

/**
 * Notes on the card when this exact file (its SHA-256) was checked before, instead of a silent duplicate
 * in the history. Nothing is shown when the history cannot be reached.
 * @param {HTMLElement} card
 * @param {string} sha256
 */
async function showEarlierChecks(card, sha256) {
  const earlier = await request('GET', `/api/verdicts?image_sha256=${sha256}&per_page=1`).catch(() => null);
  const [last] = earlier?.items ?? [];
  if (!last) return;
  const note = card.querySelector('.checked-before');
  const times = earlier.total === 1 ? 'once' : `${earlier.total} times`;
  note.textContent = `You checked this file before (${times}): last on ${new Date(last.analysed_at).toLocaleString()}, ` +
    `${verdictWord(last.verdict)}${last.uncertain ? ', uncertain' : ''}.`;
  note.hidden = false;
}

/**
 * Runs one step of a card's analysis, showing its failure on the card.
 * @param {File} file
 * @param {HTMLElement} card
 * @param {() => Promise<void>} step
 */
async function onCard(file, card, step) {
  try {
    await step();
  } catch (error) {
    setCardState(card, error.message, true);
    showError(card.querySelector('.result-state'), error);
    card.dataset.state = 'failed';
    card.dataset.verdict = 'failed';
    announce(`${file.name}: ${error.message}`);
  }
}

/**
 * Analyses one file end to end and fills its card: every face is judged; a picture without one gets no
 * verdict and no log unless the user asks for the whole picture to be judged.
 * @param {File} file
 * @param {HTMLElement} card
 * @param {Promise<{classifier: Classifier, metadata: object, session: object}>} ready
 */
async function analyse(file, card, ready) {
  setCardState(card, 'Analysing…');
  await onCard(file, card, async () => {
    const context = await ready;
    if ((await fileKind(file)) === 'video') throw new WrongPageError('This is a video, not a still image.', 'video');
    const result = await context.classifier.classify(file);
    if (result.probability !== null) {
      await report(file, card, result, context);
      return;
    }
    announce(`${file.name}: no face found, nothing to judge.`);
    await showNoFace(card, file, result, context.metadata, () => {
      setCardState(card, 'Analysing the whole picture…');
      onCard(file, card, async () => report(file, card, await context.classifier.classify(file, { whole: true }), context));
    });
  });
}

/**
 * Adds files to the queue; each gets a card at once and is analysed in turn.
 * @param {Iterable<File>} files
 * @param {Promise<object>} ready resolves with the analysis context once the model is loaded
 */
function addFiles(files, ready) {
  if (files.length >= COMPACT_FROM) setCompact(true);
  let first = null;
  for (const file of files) {
    const card = createCard(elements.results, elements.template, file.name);
    card.dataset.order = String(cardsAdded++);
    first ??= card;
    batch.total++;
    showBatchProgress();
    queue = queue.then(async () => {
      await analyse(file, card, ready);
      // Its result made the page longer: scroll again, unless the user has moved on.
      if (card === first && document.activeElement === card) card.scrollIntoView({ block: 'start' });
      batch.done++;
      showBatchProgress();
      if (elements.sort.value !== 'added') sortResults(); // a new score takes its place
      if (batch.done === batch.total) announce(`Finished: ${batch.total} analysed.`);
    });
  }
  if (first) bringIntoView(first);
}

/**
 * Scrolls a new batch's first card into view and gives it the focus (read out by screen readers): new
 * cards go below the earlier ones, out of sight otherwise. Scrolled again once it shows its result.
 * @param {HTMLElement} card
 */
function bringIntoView(card) {
  card.scrollIntoView({ block: 'start' });
  card.focus({ preventScroll: true });
}

/**
 * Connects the picker, the drop zone and paste to the queue.
 * @param {Promise<object>} ready
 */
function wireInputs(ready) {
  rememberKeepFileNames(elements.keepNames);
  elements.compact.addEventListener('click', () => setCompact(elements.compact.getAttribute('aria-pressed') !== 'true'));
  elements.clear.addEventListener('click', clearResults);
  elements.sort.addEventListener('change', sortResults);
  elements.files.addEventListener('change', () => {
    addFiles(elements.files.files, ready);
    elements.files.value = '';
  });
  acceptDrops(elements.dropZone, (files) => addFiles(files, ready));
  document.addEventListener('paste', (event) => {
    const files = [...(event.clipboardData?.files ?? [])];
    if (files.length === 0) return;
    event.preventDefault();
    addFiles(files, ready);
  });
}

startAnalysisPage({
  status: elements,
  wireInputs,
  onModelReady: () => {
    elements.files.disabled = false;
  },
});

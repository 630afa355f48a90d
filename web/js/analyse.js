/**
 * The analyser page: files in (picker, drop, paste), one queue through the classifier worker, result
 * cards out, verdict logs to the history (queued on this device while offline).
 */
import { acceptDrops, announce, startAnalysisPage } from './analysis-page.js';
import { SAVE_STATE_TEXT, saveLog } from './offline-queue.js';
import { provenanceHeadline } from './provenance-panel.js';
import { createCard, setCardState, setSyncState, showResult, summarise } from './result-card.js';
import { rememberKeepFileNames, verdictLog } from './verdict.js';

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
  template: document.getElementById('result-template'),
};

const batch = { total: 0, done: 0 };
let queue = Promise.resolve();

/** Updates the batch line and bar. */
function showBatchProgress() {
  elements.batch.hidden = false;
  elements.batchProgress.max = batch.total;
  elements.batchProgress.value = batch.done;
  elements.batchStatus.textContent =
    batch.done < batch.total ? `Analysing ${batch.done + 1} of ${batch.total}…` : `Analysed ${batch.total} of ${batch.total}.`;
}

/**
 * Analyses one file end to end and fills its card.
 * @param {File} file
 * @param {HTMLElement} card
 * @param {Promise<{classifier: Classifier, metadata: object, session: object}>} ready
 */
async function analyse(file, card, ready) {
  setCardState(card, 'Analysing…');
  try {
    const { classifier, metadata, session } = await ready;
    const result = await classifier.classify(file);
    showResult(card, result, metadata);
    const declared = provenanceHeadline(result.provenance);
    announce(declared ? `${file.name}: ${declared}.` : summarise(file.name, result.probability, metadata));
    const log = verdictLog({
      result,
      metadata,
      fileName: file.name,
      keepFileName: elements.keepNames.checked,
      label: elements.label.value.trim(),
    });
    setSyncState(card, 'Saving…');
    await saveLog(log, session, (state) => {
      setSyncState(card, SAVE_STATE_TEXT[state]);
      card.dataset.state = state;
    });
  } catch (error) {
    setCardState(card, error.message, true);
    card.dataset.state = 'failed';
    announce(`${file.name}: ${error.message}`);
  }
}

/**
 * Adds files to the queue; each gets a card at once and is analysed in turn.
 * @param {Iterable<File>} files
 * @param {Promise<object>} ready resolves with the analysis context once the model is loaded
 */
function addFiles(files, ready) {
  for (const file of files) {
    const card = createCard(elements.results, elements.template, file.name);
    batch.total++;
    showBatchProgress();
    queue = queue.then(async () => {
      await analyse(file, card, ready);
      batch.done++;
      showBatchProgress();
      if (batch.done === batch.total) announce(`Finished: ${batch.total} analysed.`);
    });
  }
}

/**
 * Connects the picker, the drop zone and paste to the queue.
 * @param {Promise<object>} ready
 */
function wireInputs(ready) {
  rememberKeepFileNames(elements.keepNames);
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

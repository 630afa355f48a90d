/**
 * One result card: the picture the model saw, the heatmap of its evidence, the gauge, the verdict in
 * words, what the number means, the SHA-256 and the engine details.
 */
import { INPUT_SIZE } from './preprocess.js';
import { provenanceHeadline, showProvenance } from './provenance-panel.js';
import { formatPercent, judge, verdictHeadline } from './verdict.js';

/** Strongest evidence colour opacity: the picture must stay visible under the heatmap. */
const HEATMAP_MAX_ALPHA = 0.65;
const TOWARDS_FAKE = [214, 40, 40];
const TOWARDS_REAL = [29, 78, 216];

/**
 * A new, empty card for a file, appended to `list`.
 * @param {HTMLOListElement} list
 * @param {HTMLTemplateElement} template
 * @param {string} name shown on the card only (never sent unless the user opted in)
 * @returns {HTMLElement}
 */
export function createCard(list, template, name) {
  const card = template.content.firstElementChild.cloneNode(true);
  card.querySelector('.result-name').textContent = name;
  list.append(card);
  return card;
}

/**
 * Shows a short state on the card ("Analysing…", an error).
 * @param {HTMLElement} card
 * @param {string} text
 * @param {boolean} [isError]
 */
export function setCardState(card, text, isError = false) {
  const state = card.querySelector('.result-state');
  state.textContent = text;
  state.classList.toggle('error', isError);
  card.classList.toggle('failed', isError);
}

/**
 * Draws the 224x224 RGB input the model saw.
 * @param {HTMLCanvasElement} canvas
 * @param {Uint8Array} rgb
 */
function drawInput(canvas, rgb) {
  const image = new ImageData(INPUT_SIZE, INPUT_SIZE);
  for (let i = 0, o = 0; i < rgb.length; i += 3, o += 4) {
    image.data[o] = rgb[i];
    image.data[o + 1] = rgb[i + 1];
    image.data[o + 2] = rgb[i + 2];
    image.data[o + 3] = 255;
  }
  canvas.getContext('2d').putImageData(image, 0, 0);
}

/**
 * Colours for an evidence map: red where a region pushed towards deepfake, blue towards real, opacity
 * by strength relative to the strongest region.
 * @param {Float32Array} evidence square grid of logits
 * @returns {ImageData}
 */
function heatmapPixels(evidence) {
  const side = Math.round(Math.sqrt(evidence.length));
  const strongest = evidence.reduce((max, value) => Math.max(max, Math.abs(value)), 0) || 1;
  const image = new ImageData(side, side);
  evidence.forEach((value, i) => {
    const [r, g, b] = value > 0 ? TOWARDS_FAKE : TOWARDS_REAL;
    image.data.set([r, g, b, Math.round((Math.abs(value) / strongest) * HEATMAP_MAX_ALPHA * 255)], i * 4);
  });
  return image;
}

/**
 * Draws the evidence map smoothly scaled over the whole canvas (replacing what it showed before).
 * Used by the image cards and by the video page's frame overlay.
 * @param {HTMLCanvasElement} canvas
 * @param {Float32Array} evidence
 */
export function drawHeatmap(canvas, evidence) {
  const pixels = heatmapPixels(evidence);
  const grid = new OffscreenCanvas(pixels.width, pixels.height);
  grid.getContext('2d').putImageData(pixels, 0, 0);
  const context = canvas.getContext('2d');
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high';
  context.drawImage(grid, 0, 0, canvas.width, canvas.height);
}

/**
 * Shows or hides a heatmap overlay with its legend, and sets its toggle button to match.
 * Used by the image cards and by the video page's frame overlay.
 * @param {{button: HTMLButtonElement, overlay: HTMLElement, legend: HTMLElement}} heatmap
 * @param {boolean} show
 */
export function setHeatmapShown({ button, overlay, legend }, show) {
  button.setAttribute('aria-pressed', String(show));
  button.textContent = show ? 'Hide heatmap' : 'Show heatmap';
  overlay.hidden = !show;
  legend.hidden = !show;
}

/**
 * Makes the heatmap button show and hide the overlay.
 * @param {HTMLElement} card
 */
function wireHeatmapToggle(card) {
  const heatmap = {
    button: card.querySelector('.heatmap-toggle'),
    overlay: card.querySelector('.preview-heatmap'),
    legend: card.querySelector('.heatmap-legend'),
  };
  heatmap.button.addEventListener('click', () => {
    setHeatmapShown(heatmap, heatmap.button.getAttribute('aria-pressed') !== 'true');
  });
}

/**
 * Places the gauge zones and needle for a probability.
 * @param {HTMLElement} gauge
 * @param {number} probability
 * @param {[number, number]} band
 */
function drawGauge(gauge, probability, band) {
  const [low, high] = band;
  gauge.querySelector('.gauge-zone.real').style.width = `${low * 100}%`;
  gauge.querySelector('.gauge-zone.uncertain').style.width = `${(high - low) * 100}%`;
  gauge.querySelector('.gauge-zone.fake').style.width = `${(1 - high) * 100}%`;
  gauge.querySelector('.gauge-needle').style.left = `${probability * 100}%`;
  gauge.setAttribute('aria-label', `Gauge: ${formatPercent(probability)} fake probability`);
}

/**
 * The one-line summary also read out by the live region.
 * @param {string} name
 * @param {number} probability
 * @param {object} metadata
 * @returns {string}
 */
export function summarise(name, probability, metadata) {
  return `${name}: ${verdictHeadline(judge(probability, metadata))}, ${formatPercent(probability)} fake probability.`;
}

/**
 * Fills a card with a finished analysis.
 * @param {HTMLElement} card
 * @param {object} result from the classifier worker
 * @param {object} metadata the model's metadata.json
 */
export function showResult(card, result, metadata) {
  const { probability } = result;
  const judgement = judge(probability, metadata);
  const { verdict, uncertain } = judgement;
  const percent = formatPercent(probability);
  card.classList.add(`verdict-${verdict}`);
  card.classList.toggle('is-uncertain', uncertain);
  card.querySelector('.result-state').hidden = true;
  card.querySelector('.result-body').hidden = false;

  drawInput(card.querySelector('.preview-image'), result.rgb);
  drawHeatmap(card.querySelector('.preview-heatmap'), result.evidence);
  wireHeatmapToggle(card);
  drawGauge(card.querySelector('.gauge'), probability, metadata.uncertain_band);

  card.querySelector('.verdict').textContent = provenanceHeadline(result.provenance) ?? verdictHeadline(judgement);
  showProvenance(card.querySelector('.result-body'), result.provenance, verdictHeadline(judgement));
  card.querySelector('.probability').textContent = `Fake probability: ${percent}`;
  card.querySelector('.probability').dataset.probability = String(probability);
  card.querySelector('.uncertain-note').hidden = !uncertain;
  card.querySelector('.reliability').textContent = measuredAccuracy(metadata);
  card.querySelector('.meaning-text').textContent =
    `${percent} is the model's estimate that this picture was generated rather than photographed. ` +
    `On pictures like its training data (${trainingSource(metadata)}) it is calibrated: of the validation ` +
    `images that scored about ${percent}, about that share were fakes. On pictures from other cameras or ` +
    'generators the number is less reliable. ' +
    `At ${formatPercent(metadata.threshold)} or more the verdict is "deepfake"; from ` +
    `${formatPercent(metadata.uncertain_band[0])} up to ${formatPercent(metadata.uncertain_band[1])} the model is unsure. ` +
    'The square shows the centre of the picture, as the model saw it.';
  card.querySelector('.limitations').replaceChildren(
    ...(metadata.limitations ?? []).map((text) => Object.assign(document.createElement('li'), { textContent: text })),
  );
  card.querySelector('.sha256').textContent = result.sha256;
  card.querySelector('.engine').textContent =
    `${result.backend}, inference ${result.inferenceMs.toFixed(1)} ms, preparation ${result.preprocessMs.toFixed(0)} ms, ` +
    `${result.width}×${result.height} px, model ${metadata.version}`;
}

/**
 * The model card's headline accuracies, shown on every card, e.g. "How often this model is right: 83% on
 * ffhq-stylegan2/test (900 images), 62% on crossval-stylegan (392 images)." Re-encoded copies of a test
 * set are left out.
 * @param {{metrics?: Object<string, {accuracy?: number, count?: number}>}} metadata
 * @returns {string}
 */
export function measuredAccuracy(metadata) {
  const parts = Object.entries(metadata.metrics ?? {})
    .filter(([name, m]) => name !== 'validation' && !name.includes('(') && typeof m.accuracy === 'number')
    .map(([name, m]) => `${formatPercent(m.accuracy)} on ${name} (${m.count} images)`);
  return parts.length ? `How often this model is right: ${parts.join(', ')}.` : '';
}

/**
 * The training data in a few words: the first sentence of its description, without the data set's name
 * ("3000 real FFHQ faces (...) and 3000 StyleGAN2 faces (...)").
 * @param {{training_data?: {description?: string}}} metadata
 * @returns {string}
 */
function trainingSource(metadata) {
  const description = metadata.training_data?.description;
  if (!description) return 'described in the model card';
  return description.slice(description.indexOf(':') + 1).split('. ')[0].trim();
}

/**
 * Shows whether the verdict log reached the history.
 * @param {HTMLElement} card
 * @param {string} text
 */
export function setSyncState(card, text) {
  card.querySelector('.sync-state').textContent = text;
}

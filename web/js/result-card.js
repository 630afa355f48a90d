/**
 * One result card: the picture with a numbered box on every face, one row per face (its crop as the model saw
 * it, its heatmap, its probability and verdict), the picture's verdict (its most suspicious face's) with the
 * gauge, what the number means, the SHA-256 and the engine details. A picture with no face to judge gets no
 * verdict, and a button to judge the whole picture anyway.
 */
import { INPUT_SIZE } from './preprocess.js';
import { provenanceHeadline, showProvenance } from './provenance-panel.js';
import { formatPercent, judge, judgedFaces, verdictHeadline, verdictMeaning } from './verdict.js';

/** Strongest evidence colour opacity: the picture must stay visible under the heatmap. */
const HEATMAP_MAX_ALPHA = 0.65;
/**
 * The region logit drawn at full colour, the same for every picture (the map is never scaled to its own
 * strongest region, so a picture the model barely suspects stays faint): a picture whose every region
 * read this would score sigmoid(4) = 98% (red) or 2% (blue). The legend in _analysis.html says so.
 */
const HEATMAP_FULL_LOGIT = 4;
const TOWARDS_FAKE = [214, 40, 40];
const TOWARDS_AWAY = [29, 78, 216];
/** The overview of the picture with its face boxes, at most this many pixels wide (drawn on this device). */
const OVERVIEW_WIDTH = 640;
const BOX_COLOURS = { deepfake: '#b3261e', uncertain: '#8a5a00', real: '#4a5260', tooSmall: '#6b7280' };

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
  card.tabIndex = -1; // focusable, so that a new batch's first card can be brought to screen readers
  const open = card.querySelector('.card-open');
  open.addEventListener('click', () => {
    const opened = card.classList.toggle('open');
    open.setAttribute('aria-expanded', String(opened));
    open.textContent = opened ? 'Show less' : 'Show full result';
  });
  list.append(card);
  return card;
}

/**
 * The card's one line in the compact view: its verdict and score, or what stopped it.
 * @param {HTMLElement} card
 * @param {string} text
 */
function setCardLine(card, text) {
  card.querySelector('.card-line-text').textContent = text;
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
  state.hidden = false;
  state.classList.toggle('error', isError);
  card.classList.toggle('failed', isError);
  setCardLine(card, text);
}

/**
 * Draws the INPUT_SIZE x INPUT_SIZE RGB input the model saw.
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
 * Colours for an evidence map: red where a region pushed towards deepfake, blue away from it, opacity by
 * strength on the one absolute scale of HEATMAP_FULL_LOGIT.
 * @param {Float32Array} evidence square grid of logits (the probability is the sigmoid of their mean)
 * @returns {ImageData}
 */
export function heatmapPixels(evidence) {
  const side = Math.round(Math.sqrt(evidence.length));
  const image = new ImageData(side, side);
  evidence.forEach((value, i) => {
    const [r, g, b] = value > 0 ? TOWARDS_FAKE : TOWARDS_AWAY;
    const strength = Math.min(1, Math.abs(value) / HEATMAP_FULL_LOGIT);
    image.data.set([r, g, b, Math.round(strength * HEATMAP_MAX_ALPHA * 255)], i * 4);
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
 * Makes the heatmap button show and hide the overlays.
 * @param {HTMLElement} card
 */
function wireHeatmapToggle(card) {
  const heatmap = {
    button: card.querySelector('.heatmap-toggle'),
    overlay: card.querySelector('.preview-heatmap'),
    legend: card.querySelector('.heatmap-legend'),
  };
  heatmap.button.addEventListener('click', () => {
    const show = heatmap.button.getAttribute('aria-pressed') !== 'true';
    // The picture's own overlay and every face's.
    for (const overlay of card.querySelectorAll('.preview-heatmap')) setHeatmapShown({ ...heatmap, overlay }, show);
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
 * Faces in reading order (left to right, then top to bottom), each with its number as shown on the picture.
 * @param {{box: {left: number, top: number}}[]} faces
 * @returns {{face: object, number: number}[]}
 */
function numberedFaces(faces) {
  return [...faces]
    .sort((a, b) => a.box.left - b.box.left || a.box.top - b.box.top)
    .map((face, index) => ({ face, number: index + 1 }));
}

/**
 * Every face's numbers as the card shows them, in its numbering (for the downloadable report).
 * @param {{faces: object[]}} result
 * @param {object} metadata
 * @returns {object[]}
 */
export function faceNumbers(result, metadata) {
  return numberedFaces(result.faces).map(({ face, number }) => ({
    number,
    box: face.box,
    crop: face.crop,
    too_small: face.tooSmall,
    ...(face.tooSmall ? {} : { probability: face.probability, ...judge(face.probability, metadata) }),
  }));
}

/**
 * The colour of a face's box: its verdict, or grey when it was too small to judge.
 * @param {{tooSmall: boolean, probability?: number}} face
 * @param {object} metadata
 * @returns {string}
 */
function boxColour(face, metadata) {
  if (face.tooSmall) return BOX_COLOURS.tooSmall;
  const { verdict, uncertain } = judge(face.probability, metadata);
  return uncertain ? BOX_COLOURS.uncertain : BOX_COLOURS[verdict];
}

/**
 * Draws the picture (decoded again here, shrunk, never sent anywhere) with a numbered box on every face.
 * @param {HTMLCanvasElement} canvas
 * @param {Blob} file
 * @param {{width: number, height: number, faces: object[]}} result
 * @param {object} metadata
 */
async function drawOverview(canvas, file, result, metadata) {
  const scale = Math.min(1, OVERVIEW_WIDTH / result.width);
  const width = Math.max(1, Math.round(result.width * scale));
  const height = Math.max(1, Math.round(result.height * scale));
  const bitmap = await createImageBitmap(file, {
    imageOrientation: 'from-image', resizeWidth: width, resizeHeight: height, resizeQuality: 'medium',
  });
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d');
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const line = Math.max(2, Math.round(width / 240));
  context.lineWidth = line;
  context.font = `bold ${Math.max(12, line * 6)}px system-ui, sans-serif`;
  context.textBaseline = 'top';
  for (const { face, number } of numberedFaces(result.faces)) {
    const x = face.box.left * scale;
    const y = face.box.top * scale;
    const colour = boxColour(face, metadata);
    context.strokeStyle = colour;
    context.setLineDash(face.tooSmall ? [line * 2, line * 2] : []);
    context.strokeRect(x, y, face.box.width * scale, face.box.height * scale);
    const label = String(number);
    const labelWidth = context.measureText(label).width + line * 3;
    const labelHeight = line * 6 + line * 2;
    const labelY = y >= labelHeight ? y - labelHeight : y;
    context.fillStyle = colour;
    context.fillRect(x, labelY, labelWidth, labelHeight);
    context.fillStyle = '#ffffff';
    context.fillText(label, x + line * 1.5, labelY + line);
  }
  canvas.setAttribute('aria-label', `The picture with ${result.faces.length} numbered face box${result.faces.length === 1 ? '' : 'es'}`);
}

/**
 * One row per face: its crop as the model saw it (with its own heatmap), its number, probability and verdict.
 * @param {HTMLOListElement} list
 * @param {object[]} faces
 * @param {object} metadata
 */
function fillFaceRows(list, faces, metadata) {
  list.replaceChildren(...numberedFaces(faces).map(({ face, number }) => {
    const row = document.createElement('li');
    row.className = 'face-row';
    row.dataset.face = String(number);
    row.dataset.crop = [face.crop.left, face.crop.top, face.crop.side].join(',');
    const preview = document.createElement('div');
    preview.className = 'preview';
    const text = document.createElement('p');
    text.innerHTML = '<span class="face-number"></span> <span class="face-verdict"></span>';
    text.querySelector('.face-number').textContent = `Face ${number}:`;
    if (face.tooSmall) {
      row.classList.add('too-small');
      text.querySelector('.face-verdict').textContent =
        `too small to judge (${face.crop.side} px; the model needs faces of at least ${metadata.min_face_crop_px} px)`;
    } else {
      const judgement = judge(face.probability, metadata);
      row.classList.add(`verdict-${judgement.verdict}`);
      row.classList.toggle('is-uncertain', judgement.uncertain);
      row.dataset.probability = String(face.probability);
      text.querySelector('.face-verdict').textContent =
        `${formatPercent(face.probability)}, ${verdictHeadline(judgement).toLowerCase()}`;
      const image = Object.assign(document.createElement('canvas'), { width: INPUT_SIZE, height: INPUT_SIZE });
      image.className = 'preview-image';
      const heatmap = Object.assign(document.createElement('canvas'), { width: INPUT_SIZE, height: INPUT_SIZE });
      heatmap.className = 'preview-heatmap face-heatmap';
      heatmap.hidden = true;
      drawInput(image, face.rgb);
      drawHeatmap(heatmap, face.evidence);
      preview.append(image, heatmap);
    }
    row.append(preview, text);
    return row;
  }));
}

/**
 * The sentence under the verdict that says what it was judged on.
 * @param {{whole: boolean, faces: {tooSmall: boolean}[]}} result
 * @returns {string}
 */
function facesSummary(result) {
  if (result.whole) return 'The whole picture was judged: no face was found in it.';
  const judged = judgedFaces(result);
  const small = result.faces.length - judged;
  const parts = [judged === 1 ? '1 face judged' : `${judged} faces judged`];
  if (small) parts.push(`${small} too small to judge`);
  const verdictOf = judged > 1 ? ' The verdict is the most suspicious face\'s.' : '';
  return `${parts.join(', ')}.${verdictOf}`;
}

/**
 * Shows that a picture has no face to judge (and so gets no verdict and no log), with the faces too small
 * to judge boxed, and wires the button that has the whole picture judged instead.
 * @param {HTMLElement} card
 * @param {Blob} file
 * @param {object} result from the classifier worker, with no judged face
 * @param {object} metadata
 * @param {() => void} onJudgeWhole
 */
export async function showNoFace(card, file, result, metadata, onJudgeWhole) {
  card.querySelector('.result-state').hidden = true;
  card.dataset.state = 'no-face';
  card.dataset.verdict = 'no-face';
  setCardLine(card, 'No face to judge.');
  const section = card.querySelector('.no-face');
  section.hidden = false;
  const declared = provenanceHeadline(result.provenance);
  const nothing = result.faces.length
    ? `No face large enough to judge: ${result.faces.length} found, all under ${metadata.min_face_crop_px} px. Nothing to judge here.`
    : 'No face found: nothing to judge here.';
  section.querySelector('.no-face-message').textContent = declared ? `${declared}. ${nothing}` : nothing;
  const button = section.querySelector('.judge-whole');
  button.addEventListener('click', () => {
    section.hidden = true;
    onJudgeWhole();
  }, { once: true });
  showProvenance(section, result.provenance, 'no verdict: no face to judge');
  await drawOverview(section.querySelector('.faces-overview'), file, result, metadata);
}

/**
 * Fills a card with a finished analysis.
 * @param {HTMLElement} card
 * @param {Blob} file the picture, decoded again here for the overview (it never leaves this device)
 * @param {object} result from the classifier worker
 * @param {object} metadata the model's metadata.json
 */
export async function showResult(card, file, result, metadata) {
  const { probability } = result;
  const judgement = judge(probability, metadata);
  const { verdict, uncertain } = judgement;
  const percent = formatPercent(probability);
  card.classList.add(`verdict-${verdict}`);
  card.classList.toggle('is-uncertain', uncertain);
  card.querySelector('.result-state').hidden = true;
  card.querySelector('.result-body').hidden = false;
  card.dataset.faces = String(judgedFaces(result));

  const overview = card.querySelector('.result-body > .faces-overview');
  overview.hidden = result.whole;
  card.querySelector('.whole-note').hidden = !result.whole;
  card.querySelector('.preview').hidden = !result.whole;
  drawInput(card.querySelector('.preview-image'), result.rgb);
  drawHeatmap(card.querySelector('.preview-heatmap'), result.evidence);
  wireHeatmapToggle(card);
  drawGauge(card.querySelector('.gauge'), probability, metadata.uncertain_band);
  fillFaceRows(card.querySelector('.face-list'), result.faces, metadata);
  card.querySelector('.faces-summary').textContent = facesSummary(result);

  const headline = provenanceHeadline(result.provenance) ?? verdictHeadline(judgement);
  card.querySelector('.verdict').textContent = headline;
  card.dataset.verdict = uncertain ? 'uncertain' : verdict;
  setCardLine(card, `${headline}: ${percent}`);
  showProvenance(card.querySelector('.result-body'), result.provenance, verdictHeadline(judgement));
  card.querySelector('.probability').textContent = `Fake probability: ${percent}`;
  card.querySelector('.probability').dataset.probability = String(probability);
  card.querySelector('.uncertain-note').hidden = !uncertain;
  card.querySelector('.reliability').textContent = verdictMeaning(judgement, metadata);
  card.querySelector('.meaning-text').textContent =
    `${percent} is the model's estimate that this ${result.whole ? 'picture' : 'face'} was generated rather than photographed. ` +
    `On pictures like its training data (${metadata.training_summary}) it is calibrated: of the validation ` +
    `images that scored about ${percent}, about that share were fakes. On pictures from other cameras or ` +
    'generators the number is less reliable. ' +
    `At ${formatPercent(metadata.threshold)} or more the verdict is "deepfake"; from ` +
    `${formatPercent(metadata.uncertain_band[0])} up to ${formatPercent(metadata.uncertain_band[1])} the model is unsure. ` +
    (result.whole
      ? 'The square shows the centre of the picture, as the model saw it.'
      : 'Each face is judged on a square around it, shown beside its number.');
  card.querySelector('.limitations').replaceChildren(
    ...limitationsInWords(metadata).map((text) => Object.assign(document.createElement('li'), { textContent: text })),
  );
  card.querySelector('.sha256').textContent = result.sha256;
  card.querySelector('.engine').textContent =
    `${result.backend}, finding faces ${result.detectMs.toFixed(0)} ms, inference ${result.inferenceMs.toFixed(1)} ms, ` +
    `in all ${result.totalMs.toFixed(0)} ms, ${result.width}×${result.height} px, model ${metadata.version}`;
  if (!result.whole) await drawOverview(overview, file, result, metadata);
}

/** Pointers into the model card that mean nothing to a reader: left out of the limitations shown. */
const FIELD_REFERENCES = [/\s*\(see [a-z_.]+\)/g, /\s*in `[a-z_.]+`/g];

/**
 * The model card's limitations as a reader can take them: without pointers to its fields, and without the
 * ones about the model card itself (its licence).
 * @param {{limitations?: string[]}} metadata
 * @returns {string[]}
 */
export function limitationsInWords(metadata) {
  return (metadata.limitations ?? [])
    .filter((text) => !/\b[a-z]+_[a-z]+\.[a-z]+\b/.test(text))
    .map((text) => FIELD_REFERENCES.reduce((plain, pattern) => plain.replace(pattern, ''), text));
}

/**
 * Shows whether the verdict log reached the history.
 * @param {HTMLElement} card
 * @param {string} text
 */
export function setSyncState(card, text) {
  card.querySelector('.sync-state').textContent = text;
}

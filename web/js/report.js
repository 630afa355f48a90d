/**
 * A result's report, made and saved on this device (nothing is sent): JSON with the verdict log and every
 * face's numbers, and a PNG of the card (the picture with its face boxes, the verdict, what it means, and
 * each judged face with its heatmap).
 */
import { faceNumbers } from './result-card.js';
import { formatPercent, judge, verdictHeadline, verdictMeaning } from './verdict.js';

const PNG_WIDTH = 800;
const MARGIN = 24;
const LINE = 24;
const FACE_SIDE = 160;
const INK = '#1b1f24';

/**
 * Saves a blob as a download under `name`.
 * @param {Blob} blob
 * @param {string} name
 */
function save(blob, name) {
  const link = Object.assign(document.createElement('a'), { href: URL.createObjectURL(blob), download: name });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 0);
}

/**
 * A file name for a report on `fileName` ("photo.jpg" gives "photo-unmask.json").
 * @param {string} fileName
 * @param {string} extension
 * @returns {string}
 */
function reportName(fileName, extension) {
  const base = fileName.replace(/\.[^.]*$/, '').replace(/[^\w.-]+/g, '_') || 'result';
  return `${base}-unmask.${extension}`;
}

/**
 * The JSON report: the verdict log as sent, the file name (kept in this file only), and every face.
 * @param {{fileName: string, log: object, result: object, metadata: object}} analysis
 * @returns {object}
 */
export function reportData({ fileName, log, result, metadata }) {
  return {
    file_name: fileName,
    verdict: verdictHeadline(judge(result.probability, metadata)),
    meaning: verdictMeaning(judge(result.probability, metadata), metadata),
    log,
    faces: result.whole ? [] : faceNumbers(result, metadata),
    model: { version: metadata.version, threshold: metadata.threshold, uncertain_band: metadata.uncertain_band },
  };
}

/**
 * Lines of at most `width` pixels in the context's font.
 * @param {CanvasRenderingContext2D} context
 * @param {string} text
 * @param {number} width
 * @returns {string[]}
 */
function wrap(context, text, width) {
  const lines = [''];
  for (const word of text.split(' ')) {
    const candidate = lines.at(-1) ? `${lines.at(-1)} ${word}` : word;
    if (context.measureText(candidate).width > width && lines.at(-1)) lines.push(word);
    else lines[lines.length - 1] = candidate;
  }
  return lines;
}

/**
 * The PNG report, drawn from the card's own canvases.
 * @param {HTMLElement} card
 * @param {{fileName: string, result: object, metadata: object}} analysis
 * @returns {Promise<Blob>}
 */
async function reportPng(card, { fileName, result, metadata }) {
  const judgement = judge(result.probability, metadata);
  const picture = card.querySelector(result.whole ? '.preview-image' : '.result-body > .faces-overview');
  const faces = [...card.querySelectorAll('.face-row:not(.too-small)')];
  const measure = document.createElement('canvas').getContext('2d');
  measure.font = '16px system-ui, sans-serif';
  const text = [
    `${verdictHeadline(judgement)}: ${formatPercent(result.probability)} fake probability`,
    ...wrap(measure, verdictMeaning(judgement, metadata), PNG_WIDTH - 2 * MARGIN),
    `Model ${metadata.version}, ${new Date().toLocaleString()}. Made on this device by Unmask.`,
  ];
  const pictureHeight = Math.round((picture.height / picture.width) * (PNG_WIDTH - 2 * MARGIN));
  const faceRows = Math.ceil(faces.length / 4);
  const height = MARGIN + LINE * (1 + text.length) + MARGIN + pictureHeight + faceRows * (FACE_SIDE + LINE + MARGIN) + MARGIN;
  const canvas = Object.assign(document.createElement('canvas'), { width: PNG_WIDTH, height });
  const context = canvas.getContext('2d');
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = INK;
  context.textBaseline = 'top';
  context.font = 'bold 18px system-ui, sans-serif';
  context.fillText(fileName, MARGIN, MARGIN);
  context.font = '16px system-ui, sans-serif';
  text.forEach((line, i) => context.fillText(line, MARGIN, MARGIN + LINE * (i + 1)));
  let y = MARGIN + LINE * (1 + text.length) + MARGIN;
  context.drawImage(picture, MARGIN, y, PNG_WIDTH - 2 * MARGIN, pictureHeight);
  y += pictureHeight + MARGIN;
  faces.forEach((row, i) => {
    const x = MARGIN + (i % 4) * (FACE_SIDE + MARGIN);
    const top = y + Math.floor(i / 4) * (FACE_SIDE + LINE + MARGIN);
    context.drawImage(row.querySelector('.preview-image'), x, top, FACE_SIDE, FACE_SIDE);
    context.drawImage(row.querySelector('.face-heatmap'), x, top, FACE_SIDE, FACE_SIDE);
    context.fillText(`Face ${row.dataset.face}: ${formatPercent(Number(row.dataset.probability))}`, x, top + FACE_SIDE + 4);
  });
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
}

/**
 * Wires a finished card's report buttons.
 * @param {HTMLElement} card
 * @param {{fileName: string, log: object, result: object, metadata: object}} analysis
 */
export function wireReport(card, analysis) {
  const buttons = card.querySelector('.report-buttons');
  buttons.hidden = false;
  buttons.querySelector('.report-json').addEventListener('click', () => {
    const json = JSON.stringify(reportData(analysis), null, 2);
    save(new Blob([json], { type: 'application/json' }), reportName(analysis.fileName, 'json'));
  });
  buttons.querySelector('.report-png').addEventListener('click', async () => {
    save(await reportPng(card, analysis), reportName(analysis.fileName, 'png'));
  });
}

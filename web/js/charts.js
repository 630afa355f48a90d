// @ts-check
/**
 * Two small SVG charts for the history page, drawn with DOM calls (no inline styles): verdicts per day and
 * the distribution of probabilities. Each has a text alternative.
 */

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 320;
const HEIGHT = 140;
const MARGIN = { top: 12, right: 4, bottom: 20, left: 26 };
const DAYS = 30;
const BINS = 10;
const DAY_MS = 86_400_000;

/**
 * An SVG element with attributes.
 * @param {string} name
 * @param {Record<string, string | number>} attributes
 * @returns {SVGElement}
 */
function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

/**
 * Counts of real and deepfake verdicts per day for the last DAYS days, oldest first.
 * @param {{analysed_at: string, verdict: string}[]} logs
 * @param {Date} today
 * @returns {{day: string, real: number, deepfake: number}[]}
 */
function verdictsPerDay(logs, today) {
  const end = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  const days = Array.from({ length: DAYS }, (_, i) => ({
    day: new Date(end - (DAYS - 1 - i) * DAY_MS).toISOString().slice(0, 10),
    real: 0,
    deepfake: 0,
  }));
  const byDay = new Map(days.map((entry) => [entry.day, entry]));
  for (const log of logs) {
    const entry = byDay.get(new Date(log.analysed_at).toISOString().slice(0, 10));
    if (entry) entry[log.verdict]++;
  }
  return days;
}

/**
 * Counts of probabilities in BINS equal bins over [0, 1].
 * @param {{probability: number}[]} logs
 * @returns {number[]}
 */
function probabilityHistogram(logs) {
  const bins = new Array(BINS).fill(0);
  for (const { probability } of logs) bins[Math.min(BINS - 1, Math.floor(probability * BINS))]++;
  return bins;
}

/**
 * An empty chart canvas with its accessible name and a baseline.
 * @param {string} label
 * @returns {SVGSVGElement}
 */
function chartFrame(label) {
  const svg = /** @type {SVGSVGElement} */ (svgElement('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': label }));
  const baseline = HEIGHT - MARGIN.bottom;
  svg.append(svgElement('line', { class: 'axis', x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: baseline, y2: baseline }));
  return svg;
}

/**
 * Adds a bar (with a tooltip) to a chart.
 * @param {SVGSVGElement} svg
 * @param {{x: number, width: number, bottom: number, height: number, className: string, title: string}} bar
 */
function addBar(svg, { x, width, bottom, height, className, title }) {
  if (height <= 0) return;
  const rect = svgElement('rect', { x, width, y: bottom - height, height, class: className });
  rect.append(Object.assign(svgElement('title', {}), { textContent: title }));
  svg.append(rect);
}

/**
 * Adds the count axis on the left: a line from 0 to the highest count, both labelled.
 * @param {SVGSVGElement} svg
 * @param {number} highest
 */
function addCountAxis(svg, highest) {
  const bottom = HEIGHT - MARGIN.bottom;
  svg.append(svgElement('line', { class: 'axis', x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: bottom }));
  for (const [count, y] of [[0, bottom], [highest, MARGIN.top]]) {
    const label = svgElement('text', { x: MARGIN.left - 4, y: y + 3, 'text-anchor': 'end', class: 'axis-count' });
    label.textContent = String(count);
    svg.append(label);
  }
}

/**
 * Adds an axis label under a chart.
 * @param {SVGSVGElement} svg
 * @param {number} x
 * @param {string} text
 * @param {string} anchor
 */
function addLabel(svg, x, text, anchor) {
  const label = svgElement('text', { x, y: HEIGHT - 6, 'text-anchor': anchor });
  label.textContent = text;
  svg.append(label);
}

/**
 * Stacked bars of verdicts per day.
 * @param {HTMLElement} container
 * @param {object[]} logs
 */
export function drawVerdictsOverTime(container, logs) {
  const days = verdictsPerDay(logs, new Date());
  const total = days.reduce((sum, day) => sum + day.real + day.deepfake, 0);
  const svg = chartFrame(`Verdicts per day over the last ${DAYS} days: ${total} in all.`);
  const highest = Math.max(1, ...days.map((day) => day.real + day.deepfake));
  const slot = (WIDTH - MARGIN.left - MARGIN.right) / DAYS;
  const scale = (HEIGHT - MARGIN.top - MARGIN.bottom) / highest;
  const bottom = HEIGHT - MARGIN.bottom;
  days.forEach((day, i) => {
    const x = MARGIN.left + i * slot + 1;
    const realHeight = day.real * scale;
    addBar(svg, { x, width: slot - 2, bottom, height: realHeight, className: 'bar-real', title: `${day.day}: ${day.real} not detected` });
    addBar(svg, {
      x, width: slot - 2, bottom: bottom - realHeight, height: day.deepfake * scale, className: 'bar-fake',
      title: `${day.day}: ${day.deepfake} deepfake`,
    });
  });
  addCountAxis(svg, highest);
  addLabel(svg, MARGIN.left, days[0].day, 'start');
  addLabel(svg, WIDTH - MARGIN.right, days[DAYS - 1].day, 'end');
  container.replaceChildren(svg);
}

/**
 * Histogram of fake probabilities.
 * @param {HTMLElement} container
 * @param {object[]} logs
 */
export function drawProbabilityDistribution(container, logs) {
  const bins = probabilityHistogram(logs);
  const summary = bins.map((count, i) => `${i * 10}-${(i + 1) * 10}%: ${count}`).join(', ');
  const svg = chartFrame(`Number of analyses by fake probability: ${summary}.`);
  const highest = Math.max(1, ...bins);
  const slot = (WIDTH - MARGIN.left - MARGIN.right) / BINS;
  const scale = (HEIGHT - MARGIN.top - MARGIN.bottom) / highest;
  bins.forEach((count, i) => {
    addBar(svg, {
      x: MARGIN.left + i * slot + 1, width: slot - 2, bottom: HEIGHT - MARGIN.bottom, height: count * scale,
      className: i * 10 >= 50 ? 'bar-fake' : 'bar-real', title: `${i * 10}-${(i + 1) * 10}%: ${count}`,
    });
    if (count > 0) {
      const label = svgElement('text', {
        x: MARGIN.left + (i + 0.5) * slot, y: HEIGHT - MARGIN.bottom - count * scale - 3, 'text-anchor': 'middle',
        class: 'bar-count',
      });
      label.textContent = String(count);
      svg.append(label);
    }
  });
  addCountAxis(svg, highest);
  addLabel(svg, MARGIN.left, '0%', 'start');
  addLabel(svg, (MARGIN.left + WIDTH - MARGIN.right) / 2, '50%', 'middle');
  addLabel(svg, WIDTH - MARGIN.right, '100%', 'end');
  container.replaceChildren(svg);
}

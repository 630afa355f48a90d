/**
 * The timeline chart: fake probability of each sampled frame against its time in the clip, drawn on a canvas
 * with the uncertain band shaded, the threshold as a dashed line and the selected frame marked. A frame with no
 * face to judge (probability null) is a hollow mark on a "no face" strip under the axis, and breaks the line.
 * Colours come from the stylesheet's custom properties. The page keeps a table of the same numbers as the text
 * alternative.
 */
import { formatPercent } from './verdict.js';

const MARGIN = { top: 10, right: 12, bottom: 40, left: 48 };
const HEIGHT_CSS_PX = 196;
/** The "no face" strip's distance under the axis, and the time labels' under that. */
const NO_FACE_OFFSET = 11;
const TIME_LABEL_OFFSET = 22;
const POINT_RADIUS = 3.5;

/**
 * Reads a CSS custom property of the chart (with a fallback).
 * @param {Element} element
 * @param {string} name
 * @param {string} fallback
 */
function cssColour(element, name, fallback) {
  return getComputedStyle(element).getPropertyValue(name).trim() || fallback;
}

export class Timeline {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {(index: number) => void} onSelect called with the frame nearest to a click
   */
  constructor(canvas, onSelect) {
    this.canvas = canvas;
    this.frames = [];
    this.duration = 0;
    this.metadata = null;
    this.selected = -1;
    canvas.addEventListener('click', (event) => {
      const index = this.frameNear(event.offsetX);
      if (index >= 0) onSelect(index);
    });
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /**
   * Starts a new clip.
   * @param {number} duration seconds
   * @param {object} metadata the model's metadata (threshold, uncertain band)
   */
  reset(duration, metadata) {
    this.frames = [];
    this.duration = duration;
    this.metadata = metadata;
    this.selected = -1;
    this.draw();
  }

  /**
   * Sets the frames (time, probability or null when the frame had no face to judge), in time order, and redraws.
   * @param {{time: number, probability: number | null}[]} frames
   * @param {number} [selected]
   */
  update(frames, selected = this.selected) {
    this.frames = frames;
    this.selected = selected;
    this.draw();
  }

  /** @private */
  plotArea() {
    const width = this.canvas.clientWidth || 600;
    return { width, height: HEIGHT_CSS_PX, x0: MARGIN.left, x1: width - MARGIN.right, y0: MARGIN.top, y1: HEIGHT_CSS_PX - MARGIN.bottom };
  }

  /** @private */
  x(time, area) {
    return area.x0 + (this.duration > 0 ? time / this.duration : 0.5) * (area.x1 - area.x0);
  }

  /** @private */
  y(probability, area) {
    return area.y1 - probability * (area.y1 - area.y0);
  }

  /**
   * Index of the frame nearest to a horizontal position in CSS pixels, or -1.
   * @private
   */
  frameNear(offsetX) {
    const area = this.plotArea();
    let best = -1;
    let bestDistance = Infinity;
    this.frames.forEach((frame, i) => {
      const distance = Math.abs(this.x(frame.time, area) - offsetX);
      if (distance < bestDistance) {
        best = i;
        bestDistance = distance;
      }
    });
    return best;
  }

  /** Redraws everything at the canvas's current size. */
  draw() {
    if (!this.metadata) return;
    const canvas = this.canvas;
    const area = this.plotArea();
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(area.width * ratio);
    canvas.height = Math.round(area.height * ratio);
    canvas.style.height = `${area.height}px`;
    const context = canvas.getContext('2d');
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, area.width, area.height);

    const ink = cssColour(canvas, '--muted', '#4a5260');
    const fake = cssColour(canvas, '--fake', '#b3261e');
    const real = cssColour(canvas, '--not-detected', '#4a5260');
    const accent = cssColour(canvas, '--accent', '#1f5fbf');
    const [low, high] = this.metadata.uncertain_band;
    const threshold = this.metadata.threshold;

    context.fillStyle = 'rgba(232, 195, 106, 0.3)';
    context.fillRect(area.x0, this.y(high, area), area.x1 - area.x0, this.y(low, area) - this.y(high, area));

    context.strokeStyle = ink;
    context.lineWidth = 1;
    context.beginPath();
    context.moveTo(area.x0, area.y0);
    context.lineTo(area.x0, area.y1);
    context.lineTo(area.x1, area.y1);
    context.stroke();

    context.fillStyle = ink;
    context.font = '11px system-ui, sans-serif';
    context.textAlign = 'right';
    context.textBaseline = 'middle';
    for (const p of [0, threshold, 1]) context.fillText(formatPercent(p), area.x0 - 4, this.y(p, area));
    context.textBaseline = 'middle';
    context.fillText('no face', area.x0 - 4, area.y1 + NO_FACE_OFFSET);
    context.textBaseline = 'top';
    context.textAlign = 'left';
    context.fillText('0 s', area.x0, area.y1 + TIME_LABEL_OFFSET);
    context.textAlign = 'right';
    context.fillText(`${this.duration.toFixed(1)} s`, area.x1, area.y1 + TIME_LABEL_OFFSET);

    context.strokeStyle = fake;
    context.setLineDash([6, 4]);
    context.beginPath();
    context.moveTo(area.x0, this.y(threshold, area));
    context.lineTo(area.x1, this.y(threshold, area));
    context.stroke();
    context.setLineDash([]);

    const selected = this.frames[this.selected];
    if (selected) {
      context.strokeStyle = accent;
      context.lineWidth = 2;
      context.beginPath();
      context.moveTo(this.x(selected.time, area), area.y0);
      context.lineTo(this.x(selected.time, area), area.y1);
      context.stroke();
    }

    context.strokeStyle = ink;
    context.lineWidth = 1;
    context.beginPath();
    this.frames.forEach((frame, i) => {
      if (frame.probability === null) return;
      const joined = i > 0 && this.frames[i - 1].probability !== null; // a frame with no face breaks the line
      const draw = joined ? context.lineTo : context.moveTo;
      draw.call(context, this.x(frame.time, area), this.y(frame.probability, area));
    });
    context.stroke();
    for (const frame of this.frames) {
      context.beginPath();
      if (frame.probability === null) {
        context.arc(this.x(frame.time, area), area.y1 + NO_FACE_OFFSET, POINT_RADIUS, 0, 2 * Math.PI);
        context.stroke();
      } else {
        context.fillStyle = frame.probability >= threshold ? fake : real;
        context.arc(this.x(frame.time, area), this.y(frame.probability, area), POINT_RADIUS, 0, 2 * Math.PI);
        context.fill();
      }
    }
  }
}

/**
 * The video page: a clip in (picker or drop), frames sampled across it and judged one by one in the
 * classifier worker on their faces, exactly as a still image is (the most suspicious face is the frame's
 * score), a timeline, the highest-scoring frames with their heatmaps, one verdict for the clip under a stated
 * rule over the frames with a face, and one verdict log to the history (queued on this device while offline).
 * A clip with no face in any sampled frame gets no verdict and no log, unless the user asks for the whole
 * frames to be judged. No frame, pixel or byte of the file is ever sent.
 *
 * Test and benchmark hooks (read-only): #analysis[data-state] is running | no-face | saving | saved | queued |
 * failed | cancelled; each row of #frame-table has data-time and data-faces (faces judged), and
 * data-probability when the frame was judged; #result carries data-score, data-mean, data-max, data-share,
 * data-judged, data-no-face, data-faces, data-whole and timing (data-elapsed-ms, data-decode-ms,
 * data-classify-ms, data-detect-ms).
 */
import { acceptDrops, announce, startAnalysisPage } from './analysis-page.js';
import { WrongPageError, fileKind, showError } from './file-kind.js';
import { rememberFile } from './local-files.js';
import { SAVE_STATE_TEXT, saveLog } from './offline-queue.js';
import { provenanceHeadline, showProvenance } from './provenance-panel.js';
import { drawHeatmap, setHeatmapShown, summarise } from './result-card.js';
import { aggregate } from './video-aggregate.js';
import {
  DEFAULT_FRAMES_PER_SECOND,
  DEFAULT_MAX_FRAMES,
  MAX_FRAMES_LIMIT,
  MAX_FRAMES_PER_SECOND,
  VideoSource,
  sampleTimes,
} from './video-frames.js';
import { hashInWorker } from './video-hash.js';
import { Timeline } from './video-timeline.js';
import { formatPercent, judgedFaces, rememberKeepFileNames, verdictHeadline, verdictLog, verdictMeaning } from './verdict.js';

/** Thumbnails are kept only for this many highest-scoring frames. */
const TOP_FRAMES = 6;
const THUMBNAIL_WIDTH = 160;
const MIN_FRAMES_PER_SECOND = 0.1;

const elements = {
  modelMessage: document.getElementById('model-message'),
  modelProgress: document.getElementById('model-progress'),
  file: document.getElementById('file'),
  dropZone: document.getElementById('drop-zone'),
  rate: document.getElementById('rate'),
  maxFrames: document.getElementById('max-frames'),
  label: document.getElementById('label'),
  keepNames: document.getElementById('keep-names'),
  analysis: document.getElementById('analysis'),
  title: document.getElementById('analysis-title'),
  status: document.getElementById('status'),
  progress: document.getElementById('progress'),
  cancel: document.getElementById('cancel'),
  result: document.getElementById('result'),
  verdict: document.getElementById('verdict'),
  score: document.getElementById('score'),
  reliability: document.getElementById('reliability'),
  uncertainNote: document.getElementById('uncertain-note'),
  wholeNote: document.getElementById('whole-note'),
  noFace: document.getElementById('no-face'),
  noFaceDetail: document.getElementById('no-face-detail'),
  judgeWhole: document.getElementById('judge-whole'),
  framesAnalysed: document.getElementById('frames-analysed'),
  framesWithoutFace: document.getElementById('frames-without-face'),
  framesWithoutFaceTerm: document.getElementById('frames-without-face-term'),
  facesPerFrame: document.getElementById('faces-per-frame'),
  mean: document.getElementById('mean'),
  max: document.getElementById('max'),
  flagged: document.getElementById('flagged'),
  sha256: document.getElementById('sha256'),
  engine: document.getElementById('engine'),
  syncState: document.getElementById('sync-state'),
  rule: document.getElementById('rule'),
  playerBox: document.getElementById('player-box'),
  clipView: document.getElementById('clip-view'),
  player: document.getElementById('player'),
  heatmap: document.getElementById('player-heatmap'),
  heatmapToggle: document.getElementById('heatmap-toggle'),
  heatmapLegend: document.getElementById('heatmap-legend'),
  selectedFrame: document.getElementById('selected-frame'),
  timeline: document.getElementById('timeline'),
  topFrames: document.getElementById('top-frames'),
  topFramesTitle: document.getElementById('top-frames-title'),
  frameTable: document.querySelector('#frame-table tbody'),
};

/**
 * The clip on screen: its file, its frames, its top frames with thumbnails, the player's URL, the running
 * analysis. A frame is {time, probability, evidence, square, whole, faces, tooSmall, inferenceMs, detectMs}:
 * `probability` is null when it had no face to judge, `square` ({left, top, side} in frame pixels) is what the
 * model judged, `faces` how many faces were judged and `tooSmall` how many were too small to judge.
 */
const clip = {
  file: null,
  frames: [],
  top: [],
  selected: -1,
  width: 0,
  height: 0,
  playerUrl: null,
  controller: null,
};
const timeline = new Timeline(elements.timeline, (index) => selectFrame(index));

/**
 * The rule in words, from the model card the code judges with.
 * @param {{threshold: number, uncertain_band: [number, number], video_flagged_percent: number}} metadata
 * @returns {string}
 */
function ruleText(metadata) {
  const share = metadata.video_flagged_percent;
  const threshold = formatPercent(metadata.threshold);
  const [low, high] = metadata.uncertain_band.map(formatPercent);
  return 'Each sampled frame is judged on its faces, exactly as a still image would be: the most suspicious ' +
    "face's fake probability is the frame's score. Frames without a face (or with faces too small to judge) are " +
    `not counted. The clip is judged Deepfake if at least ${share}% of the frames with a face score ` +
    `${threshold} or more, or if the mean of their scores is ${threshold} or more; otherwise nothing is detected. ` +
    "The clip's score is the higher of the mean and the score " +
    `reached by the top ${share}% of frames, so it is ${threshold} or more exactly when the verdict ` +
    `is Deepfake. The verdict is Uncertain when the clip's score lies between ${low} and ${high}. ` +
    'A short manipulated passage in a long clip may stay under the share: look at the timeline and the top frames too.';
}

/**
 * The sampling settings, clamped to their bounds (and shown back clamped).
 * @returns {{framesPerSecond: number, maxFrames: number}}
 */
function samplingSettings() {
  const rate = Number(elements.rate.value);
  const max = Math.round(Number(elements.maxFrames.value));
  const framesPerSecond = Number.isFinite(rate) && rate > 0
    ? Math.min(MAX_FRAMES_PER_SECOND, Math.max(MIN_FRAMES_PER_SECOND, rate)) : DEFAULT_FRAMES_PER_SECOND;
  const maxFrames = Number.isFinite(max) && max >= 1 ? Math.min(MAX_FRAMES_LIMIT, max) : DEFAULT_MAX_FRAMES;
  elements.rate.value = String(framesPerSecond);
  elements.maxFrames.value = String(maxFrames);
  return { framesPerSecond, maxFrames };
}

/**
 * Seconds as "12.5 s" or "3:07.5" beyond a minute.
 * @param {number} seconds
 * @returns {string}
 */
function formatTime(seconds) {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${(seconds - minutes * 60).toFixed(1).padStart(4, '0')}`;
}

/**
 * Sets the analysis state (also the test hook) and the status line.
 * @param {string} state
 * @param {string} text
 * @param {boolean} [isError]
 */
function setState(state, text, isError = false) {
  elements.analysis.dataset.state = state;
  elements.status.textContent = text;
  elements.status.classList.toggle('error', isError);
  elements.cancel.hidden = state !== 'running';
  if (state !== 'running') elements.progress.hidden = elements.progress.value >= elements.progress.max || state === 'failed';
}

/**
 * Frees a thumbnail's pixel memory now rather than at the next collection.
 * @param {HTMLCanvasElement} canvas
 */
function releaseCanvas(canvas) {
  canvas.width = 0;
  canvas.height = 0;
}

/** Frees every kept thumbnail. */
function releaseThumbnails() {
  for (const entry of clip.top) releaseCanvas(entry.canvas);
  clip.top = [];
}

/**
 * Clears the previous clip from the page and memory.
 * @param {File} file
 */
function resetClip(file) {
  releaseThumbnails();
  clip.file = file;
  clip.frames = [];
  clip.selected = -1;
  if (clip.playerUrl) URL.revokeObjectURL(clip.playerUrl);
  clip.playerUrl = null;
  elements.player.removeAttribute('src');
  elements.player.load();
  elements.analysis.hidden = false;
  elements.clipView.hidden = true; // no empty player: shown once the clip opens
  elements.title.textContent = file.name;
  elements.result.hidden = true;
  elements.noFace.hidden = true;
  elements.result.className = 'result-card video-card';
  elements.result.querySelector('.provenance')?.remove();
  for (const key of Object.keys(elements.result.dataset)) delete elements.result.dataset[key];
  renderTopFrames(); // empty: the thumbnails were released above
  elements.frameTable.replaceChildren();
  elements.progress.hidden = false;
  elements.progress.value = 0;
  elements.progress.max = 1;
  showHeatmap(false);
  elements.heatmapToggle.disabled = true;
  elements.selectedFrame.textContent = 'Choose a frame below to see where the model looked.';
}

/**
 * A small copy of a frame for the top-frames list (drawn before the bitmap goes to the worker).
 * @param {ImageBitmap} bitmap
 * @returns {HTMLCanvasElement}
 */
function thumbnail(bitmap) {
  const canvas = document.createElement('canvas');
  canvas.width = THUMBNAIL_WIDTH;
  canvas.height = Math.max(1, Math.round((THUMBNAIL_WIDTH * bitmap.height) / bitmap.width));
  const context = canvas.getContext('2d');
  context.imageSmoothingQuality = 'medium';
  context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return canvas;
}

/**
 * Keeps the thumbnail if the frame is among the TOP_FRAMES highest scores; returns whether the list changed.
 * @param {number} index
 * @param {HTMLCanvasElement} canvas
 * @returns {boolean}
 */
function offerTopFrame(index, canvas) {
  const probability = clip.frames[index].probability;
  const last = clip.top[clip.top.length - 1];
  if (clip.top.length >= TOP_FRAMES && probability <= last.probability) {
    releaseCanvas(canvas);
    return false;
  }
  clip.top.push({ index, probability, canvas });
  clip.top.sort((a, b) => b.probability - a.probability || a.index - b.index);
  if (clip.top.length > TOP_FRAMES) releaseCanvas(clip.top.pop().canvas);
  return true;
}

/** Redraws the list of top frames (the canvases are moved, not copied). */
function renderTopFrames() {
  elements.topFramesTitle.hidden = !clip.top.length;
  elements.topFrames.replaceChildren(
    ...clip.top.map(({ index, probability, canvas }) => {
      const { time } = clip.frames[index];
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'top-frame';
      button.dataset.index = String(index);
      button.dataset.time = String(time);
      button.classList.toggle('flagged', probability >= timeline.metadata.threshold);
      button.setAttribute('aria-pressed', String(index === clip.selected));
      const caption = document.createElement('span');
      caption.textContent = `${formatTime(time)} · ${formatPercent(probability)}`;
      button.setAttribute('aria-label', `Frame at ${formatTime(time)}, ${formatPercent(probability)} fake probability: show it with its heatmap`);
      button.addEventListener('click', () => selectFrame(index));
      button.append(canvas, caption);
      item.append(button);
      return item;
    }),
  );
}

/**
 * What the table and the caption say about a frame's faces: "2", or why it was not judged.
 * @param {{faces: number, tooSmall: number, whole: boolean}} frame
 * @returns {string}
 */
function facesText({ faces, tooSmall, whole }) {
  if (whole) return 'whole frame';
  if (faces) return String(faces);
  return tooSmall ? 'face too small' : 'no face';
}

/**
 * Adds a frame's row to the table of scores (the chart's text alternative and the test hook).
 * @param {number} index
 */
function addTableRow(index) {
  const frame = clip.frames[index];
  const { time, probability } = frame;
  const row = document.createElement('tr');
  row.dataset.time = String(time);
  row.dataset.faces = String(frame.faces);
  if (probability !== null) row.dataset.probability = String(probability);
  else row.className = 'no-face-row';
  const timeCell = document.createElement('td');
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'link-button';
  button.textContent = formatTime(time);
  button.addEventListener('click', () => selectFrame(index));
  timeCell.append(button);
  const facesCell = document.createElement('td');
  facesCell.textContent = facesText(frame);
  const probabilityCell = document.createElement('td');
  probabilityCell.textContent = probability === null ? 'not counted' : formatPercent(probability);
  row.append(timeCell, facesCell, probabilityCell);
  elements.frameTable.append(row);
}

/**
 * Shows or hides the heatmap overlay.
 * @param {boolean} show
 */
function showHeatmap(show) {
  setHeatmapShown({ button: elements.heatmapToggle, overlay: elements.heatmap, legend: elements.heatmapLegend }, show);
}

/**
 * Places the overlay over the square the model judged (the most suspicious face, or the centre square of a
 * frame judged whole) and draws the evidence.
 * @param {{evidence: Float32Array, square: {left: number, top: number, side: number}}} frame
 */
function placeHeatmap({ evidence, square }) {
  const { width, height } = clip;
  Object.assign(elements.heatmap.style, {
    left: `${(square.left / width) * 100}%`,
    top: `${(square.top / height) * 100}%`,
    width: `${(square.side / width) * 100}%`,
    height: `${(square.side / height) * 100}%`,
  });
  drawHeatmap(elements.heatmap, evidence);
}

/**
 * Shows one analysed frame: the player jumps there and its heatmap is drawn over it.
 * @param {number} index
 */
function selectFrame(index) {
  const frame = clip.frames[index];
  if (!frame) return;
  clip.selected = index;
  elements.player.pause();
  elements.player.currentTime = frame.time;
  const judged = frame.probability !== null;
  if (judged) placeHeatmap(frame);
  elements.heatmapToggle.disabled = !judged;
  showHeatmap(judged);
  elements.selectedFrame.textContent = judged
    ? `Frame at ${formatTime(frame.time)}: ${formatPercent(frame.probability)} fake probability` +
      `${frame.faces > 1 ? ` (the most suspicious of ${frame.faces} faces)` : ''}.`
    : `Frame at ${formatTime(frame.time)}: ${facesText(frame)}, not counted.`;
  elements.playerBox.dataset.selectedTime = String(frame.time);
  timeline.update(clip.frames, index);
  for (const button of elements.topFrames.querySelectorAll('.top-frame')) {
    button.setAttribute('aria-pressed', String(Number(button.dataset.index) === index));
  }
}

/**
 * Gives the player the clip and its proportions (the overlay needs the picture to fill the box exactly).
 * @param {File} file
 * @param {VideoSource} source
 */
function showPlayer(file, source) {
  clip.width = source.width;
  clip.height = source.height;
  clip.playerUrl = URL.createObjectURL(file);
  elements.player.src = clip.playerUrl;
  elements.clipView.hidden = false;
  elements.playerBox.style.aspectRatio = `${source.width} / ${source.height}`;
  elements.playerBox.style.maxWidth = `calc(60vh * ${source.width / source.height})`;
}

/**
 * Fills the verdict card.
 * @param {ReturnType<typeof aggregate>} result
 * @param {object} numbers
 */
function showVerdict(result, { judged, sampled, mostFaces, whole, sha256, backend, meanInferenceMs, meanDetectMs, framesPerSecond, source, metadata, provenance }) {
  const withoutFace = sampled - judged;
  elements.result.hidden = false;
  elements.result.classList.add(`verdict-${result.verdict}`);
  elements.result.classList.toggle('is-uncertain', result.uncertain);
  elements.verdict.textContent = provenanceHeadline(provenance) ?? verdictHeadline(result);
  showProvenance(elements.result.querySelector('article'), provenance, verdictHeadline(result));
  elements.score.textContent = `Clip score: ${formatPercent(result.score)}`;
  elements.reliability.textContent = `${verdictMeaning(result, metadata, 'clip')} Measured on still photos, not on video frames.`;
  elements.uncertainNote.hidden = !result.uncertain;
  elements.wholeNote.hidden = !whole;
  elements.framesAnalysed.textContent = whole
    ? `${judged} judged whole, over ${formatTime(source.duration)}`
    : `${judged} with a face, of ${sampled} sampled over ${formatTime(source.duration)}`;
  elements.framesWithoutFace.textContent = `${withoutFace} (not counted)`;
  elements.framesWithoutFace.hidden = whole;
  elements.framesWithoutFaceTerm.hidden = whole;
  elements.facesPerFrame.textContent = whole ? 'none: whole frames judged' : `up to ${mostFaces} in one frame`;
  elements.mean.textContent = formatPercent(result.mean);
  elements.max.textContent = formatPercent(result.max);
  elements.flagged.textContent =
    `${result.flagged} of ${judged} (${formatPercent(result.shareFlagged)}) at ${formatPercent(metadata.threshold)} or more; ` +
    `${result.needed} needed for the share rule`;
  elements.sha256.textContent = sha256;
  elements.engine.textContent =
    `${backend}, ${whole ? '' : `face detection ${meanDetectMs.toFixed(1)} ms and `}inference ${meanInferenceMs.toFixed(1)} ms per frame, ` +
    `${framesPerSecond.toFixed(1)} frames per second overall, ${source.width}×${source.height} px, model ${metadata.version}`;
  Object.assign(elements.result.dataset, {
    score: String(result.score),
    mean: String(result.mean),
    max: String(result.max),
    share: String(result.shareFlagged),
    verdict: result.verdict,
    uncertain: String(result.uncertain),
    judged: String(judged),
    noFace: String(withoutFace),
    faces: String(mostFaces),
    whole: String(whole),
  });
}

/**
 * A sampled frame from the classifier's result: its score (null when no face was judged), the square the
 * model judged for the heatmap, and how many faces were judged.
 * @param {number} time
 * @param {object} result from `classifier.classify`
 */
function frameRecord(time, result) {
  // The result's evidence is its most suspicious face's (one object: a message keeps shared references).
  const top = result.faces.find((face) => face.evidence && face.evidence === result.evidence);
  const side = Math.min(result.width, result.height);
  const square = result.whole
    ? { left: (result.width - side) / 2, top: (result.height - side) / 2, side }
    : top?.crop ?? null;
  return {
    time,
    probability: result.probability,
    evidence: result.evidence,
    square,
    whole: result.whole,
    faces: judgedFaces(result),
    tooSmall: result.faces.filter((face) => face.tooSmall).length,
    inferenceMs: result.inferenceMs,
    detectMs: result.detectMs,
  };
}

/**
 * Classifies the sampled frames one at a time: on their faces, or with `whole` the frames themselves. While
 * the worker classifies frame i, the decoder already seeks to frame i + 1; the bitmap of i + 1 is only taken
 * once frame i's bitmap is closed (in the worker), so one frame bitmap is alive at a time.
 * @param {VideoSource} source
 * @param {number[]} times
 * @param {Classifier} classifier
 * @param {{whole: boolean, signal: AbortSignal}} options
 * @returns {Promise<{decodeMs: number, classifyMs: number, backend: string}>}
 */
async function analyseFrames(source, times, classifier, { whole, signal }) {
  let decodeMs = 0;
  let classifyMs = 0;
  let backend = '';
  let seeking = source.seek(times[0], signal);
  for (let i = 0; i < times.length; i++) {
    elements.status.textContent = `Analysing frame ${i + 1} of ${times.length} (at ${formatTime(times[i])})…`;
    const decodeStart = performance.now();
    await seeking;
    const bitmap = await source.grab();
    const small = thumbnail(bitmap);
    decodeMs += performance.now() - decodeStart;
    const classifyStart = performance.now();
    const classifying = classifier.classify(bitmap, { whole });
    seeking = i + 1 < times.length ? source.seek(times[i + 1], signal) : null;
    seeking?.catch(() => {}); // awaited (and reported) on the next turn
    const result = await classifying;
    classifyMs += performance.now() - classifyStart;
    signal.throwIfAborted();
    backend = result.backend;
    clip.frames.push(frameRecord(times[i], result));
    if (result.probability === null) releaseCanvas(small);
    else if (offerTopFrame(i, small)) renderTopFrames();
    addTableRow(i);
    timeline.update(clip.frames);
    elements.progress.value = i + 1;
  }
  return { decodeMs, classifyMs, backend };
}

/**
 * Says that no sampled frame had a face to judge: no verdict, nothing saved, and the choice to judge the
 * whole frames anyway.
 */
function showNoFace() {
  const tooSmall = clip.frames.filter((frame) => frame.tooSmall).length;
  elements.noFace.hidden = false;
  elements.noFaceDetail.textContent =
    (tooSmall ? `Faces too small to judge were found in ${tooSmall} of the ${clip.frames.length} frames. ` : '') +
    'No verdict was made and nothing was saved to your history.';
  setState('no-face', `Looked at ${clip.frames.length} sampled frames.`);
  announce(`${clip.file.name}: no face found in the sampled frames, nothing to judge.`);
}

/**
 * Analyses one clip end to end: on the faces in its frames, or with `whole` the whole frames.
 * @param {File} file
 * @param {Promise<{classifier: Classifier, metadata: object, session: object}>} ready
 * @param {{whole?: boolean}} [options]
 */
async function analyse(file, ready, { whole = false } = {}) {
  clip.controller?.abort();
  const controller = new AbortController();
  clip.controller = controller;
  const { signal } = controller;
  resetClip(file);
  setState('running', 'Opening the video…');
  let source = null;
  let times = [];
  try {
    const { classifier, metadata, session } = await ready;
    if ((await fileKind(file)) === 'image') throw new WrongPageError('This is a still image, not a video.', 'image');
    source = await VideoSource.open(file, signal);
    signal.throwIfAborted();
    const { framesPerSecond, maxFrames } = samplingSettings();
    times = sampleTimes(source.duration, framesPerSecond, maxFrames);
    elements.analysis.dataset.framesTotal = String(times.length);
    elements.progress.max = times.length;
    showPlayer(file, source);
    timeline.reset(source.duration, metadata);
    const hashing = hashInWorker(file, { signal });
    hashing.catch(() => {}); // awaited below
    const start = performance.now();
    const { decodeMs, classifyMs, backend } = await analyseFrames(source, times, classifier, { whole, signal });
    const elapsedMs = performance.now() - start;
    const { width, height, duration } = source;
    source.close();
    source = null;
    const sampled = clip.frames.length;
    const detectMs = clip.frames.reduce((sum, frame) => sum + frame.detectMs, 0);
    Object.assign(elements.result.dataset, {
      elapsedMs: String(elapsedMs),
      decodeMs: String(decodeMs),
      classifyMs: String(classifyMs),
      detectMs: String(detectMs),
    });
    const judgedFrames = clip.frames.filter((frame) => frame.probability !== null);
    if (!judgedFrames.length) {
      showNoFace();
      return;
    }

    elements.status.textContent = "Computing the file's fingerprint…";
    const sha256 = await hashing;
    signal.throwIfAborted();
    elements.status.textContent = 'Reading what the file says about itself…';
    const provenance = await classifier.readVideoProvenance(file);
    signal.throwIfAborted();
    const result = aggregate(judgedFrames.map((frame) => frame.probability), metadata);
    const judged = judgedFrames.length;
    const mostFaces = Math.max(...clip.frames.map((frame) => frame.faces)); // 0 for whole frames
    const meanInferenceMs = judgedFrames.reduce((sum, frame) => sum + frame.inferenceMs, 0) / judged;
    showVerdict(result, {
      judged, sampled, mostFaces, whole, sha256, backend, meanInferenceMs, meanDetectMs: detectMs / sampled,
      framesPerSecond: (sampled * 1000) / elapsedMs, source: { width, height, duration }, metadata, provenance,
    });
    const top = clip.top[0];
    if (top) selectFrame(top.index);
    const done = whole ? `Judged ${judged} whole frames.` : `Judged ${judged} frames with a face; ${sampled - judged} had no face.`;
    setState('saving', done);
    announce(summarise(file.name, result.score, metadata));

    const log = verdictLog({
      // No per-face list for a clip: its log counts the most faces judged in one frame.
      result: { probability: result.score, width, height, sha256, backend, inferenceMs: meanInferenceMs, whole, faces: [], provenance },
      metadata,
      fileName: file.name,
      keepFileName: elements.keepNames.checked,
      label: elements.label.value.trim(),
      video: {
        mostFaces,
        summary: {
          frames: judged,
          duration_s: Math.round(duration * 1000) / 1000,
          mean_probability: result.mean,
          max_probability: result.max,
          share_flagged: result.shareFlagged,
        },
      },
    });
    // The most suspicious frame's thumbnail, for this device's history only.
    if (top) await rememberFile({ id: log.id, username: session.username, name: file.name, picture: top.canvas });
    if (clip.controller === controller) elements.syncState.textContent = 'Saving…';
    await saveLog(log, session, (state) => {
      if (clip.controller !== controller) return; // another clip is on screen now; this log is kept all the same
      elements.syncState.textContent = SAVE_STATE_TEXT[state];
      setState(state, done);
    });
  } catch (error) {
    if (signal.aborted) {
      if (clip.controller === controller) {
        setState('cancelled', `Cancelled after ${clip.frames.length} of ${times.length || '?'} frames. No verdict was made and nothing was saved.`);
        announce('Analysis cancelled.');
      }
      return;
    }
    setState('failed', 'The analysis failed.', true);
    if (error.message) showError(elements.status, error);
    announce(`${file.name}: ${error.message}`);
  } finally {
    source?.close();
    controller.abort(); // stops the hashing worker if the analysis failed
    if (clip.controller === controller) clip.controller = null;
  }
}

/**
 * Connects the picker, the drop zone, Cancel, the player and the heatmap toggle.
 * @param {Promise<object>} ready
 */
function wireInputs(ready) {
  rememberKeepFileNames(elements.keepNames);
  elements.rate.addEventListener('change', samplingSettings);
  elements.maxFrames.addEventListener('change', samplingSettings);
  elements.file.addEventListener('change', () => {
    const [file] = elements.file.files;
    if (file) analyse(file, ready);
    elements.file.value = '';
  });
  acceptDrops(elements.dropZone, ([file]) => {
    if (file) analyse(file, ready);
  });
  elements.cancel.addEventListener('click', () => clip.controller?.abort());
  elements.judgeWhole.addEventListener('click', () => {
    if (clip.file) analyse(clip.file, ready, { whole: true });
  });
  elements.heatmapToggle.addEventListener('click', () => {
    const frame = clip.frames[clip.selected];
    if (!frame || frame.probability === null) return;
    const show = elements.heatmapToggle.getAttribute('aria-pressed') !== 'true';
    if (show) selectFrame(clip.selected);
    else showHeatmap(false);
  });
  // The overlay belongs to one frame: hide it once the video moves elsewhere.
  elements.player.addEventListener('play', () => showHeatmap(false));
  elements.player.addEventListener('seeked', () => {
    const frame = clip.frames[clip.selected];
    if (frame && Math.abs(elements.player.currentTime - frame.time) > 0.05) showHeatmap(false);
  });
}

startAnalysisPage({
  status: elements,
  wireInputs,
  onModelReady: (metadata) => {
    elements.rule.textContent = ruleText(metadata);
    elements.file.disabled = false;
  },
});

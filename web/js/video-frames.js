// @ts-check
/**
 * Decoding a video file locally and grabbing frames from it: a <video> element that is never attached to the
 * page is seeked to each sampled time, and the frame shown after `seeked` is copied with
 * createImageBitmap(video). The file is read through a blob: URL; nothing is uploaded.
 *
 * Memory: the element buffers only what it needs around the current position, and the caller holds one
 * frame bitmap at a time, so a long clip costs no more than a short one.
 */

/** Default sampling: frames per second of video, and the most frames per clip. */
export const DEFAULT_FRAMES_PER_SECOND = 1;
export const DEFAULT_MAX_FRAMES = 120;
/** Bounds of the adjustable settings. */
export const MAX_FRAMES_PER_SECOND = 10;
export const MAX_FRAMES_LIMIT = 1000;
/** How long opening a file or one seek may take before the video counts as undecodable. */
const OPEN_TIMEOUT_MS = 20_000;
const SEEK_TIMEOUT_MS = 20_000;
/** Bytes read to recognise the container and codec for a clearer error message. */
const SNIFF_BYTES = 1024 * 1024;

/** A video that cannot be analysed, with a message for people. */
export class VideoError extends Error {
  /** @param {string} code 'undecodable' | 'no-picture' | 'no-duration' | 'stalled' @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * The sampled times: `n` frames at the centres of n equal slices of the clip, so that they cover it from
 * start to end; n = duration x frames per second, at least 1 and at most `maxFrames`.
 * @param {number} duration seconds
 * @param {number} framesPerSecond
 * @param {number} maxFrames
 * @returns {number[]} seconds, ascending
 */
export function sampleTimes(duration, framesPerSecond, maxFrames) {
  if (!(duration > 0)) return [0];
  const count = Math.min(maxFrames, Math.max(1, Math.round(duration * framesPerSecond)));
  return Array.from({ length: count }, (_, i) => ((i + 0.5) * duration) / count);
}

/**
 * Finds the four-character code of the first known video codec in some bytes.
 * @param {Uint8Array} bytes
 * @returns {string | null}
 */
function findCodec(bytes) {
  const text = new TextDecoder('latin1').decode(bytes);
  const codecs = [
    ['avc1', 'H.264'], ['avc3', 'H.264'], ['hvc1', 'H.265 (HEVC)'], ['hev1', 'H.265 (HEVC)'], ['av01', 'AV1'],
    ['vp09', 'VP9'], ['V_MPEG4/ISO/AVC', 'H.264'], ['V_MPEGH/ISO/HEVC', 'H.265 (HEVC)'], ['V_AV1', 'AV1'],
    ['mp4v', 'MPEG-4 Part 2'], ['XVID', 'MPEG-4 Part 2 (Xvid)'], ['DIVX', 'MPEG-4 Part 2 (DivX)'],
  ];
  const found = codecs
    .map(([code, name]) => ({ at: text.indexOf(code), name }))
    .filter(({ at }) => at >= 0);
  return found.length ? found.sort((a, b) => a.at - b.at)[0].name : null;
}

/**
 * Names the container and, where it can be seen, the video codec of a file, for the error message.
 * @param {Blob} file
 * @returns {Promise<{container: string | null, codec: string | null}>}
 */
async function describeFile(file) {
  const head = new Uint8Array(await file.slice(0, SNIFF_BYTES).arrayBuffer());
  const tail = file.size > SNIFF_BYTES ? new Uint8Array(await file.slice(-SNIFF_BYTES).arrayBuffer()) : new Uint8Array();
  const ascii = (from, to) => String.fromCharCode(...head.subarray(from, to));
  let container = null;
  if (ascii(4, 8) === 'ftyp') container = ascii(8, 10) === 'qt' ? 'QuickTime (MOV)' : 'MP4';
  else if (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) container = 'WebM/Matroska';
  else if (ascii(0, 4) === 'RIFF' && ascii(8, 11) === 'AVI') container = 'AVI';
  else if (head[0] === 0x47 && head[188] === 0x47) container = 'MPEG transport stream';
  else if (ascii(0, 4) === 'OggS') container = 'Ogg';
  if (!container) return { container: null, codec: null };
  return { container, codec: findCodec(head) ?? findCodec(tail) };
}

/**
 * The message for a file the browser could not decode.
 * @param {Blob} file
 * @returns {Promise<string>}
 */
async function undecodableMessage(file) {
  if (file.size === 0) return 'The file is empty.';
  const { container, codec } = await describeFile(file);
  if (!container) {
    return 'This file could not be opened as a video: it is damaged or not a video this browser can read. ' +
      'Try an MP4 or WebM file.';
  }
  const what = codec ? `${container} file with ${codec} video` : `${container} file`;
  return `This browser cannot decode this ${what}: the file may be damaged, or its codec is not supported here. ` +
    'Try converting it to WebM (VP9 or VP8), or open this page in another browser.';
}

/**
 * Resolves with the event name when one of `events` fires; rejects on the element's error or the timeout.
 * @param {HTMLVideoElement} video
 * @param {string[]} events
 * @param {number} timeoutMs
 * @param {AbortSignal} [signal]
 * @param {() => void} [start] run once the listeners are in place (e.g. set currentTime)
 * @returns {Promise<string>}
 */
function waitForEvent(video, events, timeoutMs, signal, start) {
  return new Promise((resolve, reject) => {
    let timer = null;
    const listeners = [];
    const listen = (target, name, handler) => {
      target.addEventListener(name, handler);
      listeners.push([target, name, handler]);
    };
    const done = (callback, value) => {
      clearTimeout(timer);
      for (const [target, name, handler] of listeners) target.removeEventListener(name, handler);
      callback(value);
    };
    for (const name of events) listen(video, name, () => done(resolve, name));
    listen(video, 'error', () => done(reject, new VideoError('undecodable', '')));
    if (signal) {
      if (signal.aborted) return reject(signal.reason);
      listen(signal, 'abort', () => done(reject, signal.reason));
    }
    timer = setTimeout(() => done(reject, new VideoError('stalled', '')), timeoutMs);
    start?.();
  });
}

/**
 * A decoded video ready for frame grabbing.
 */
export class VideoSource {
  /**
   * @param {HTMLVideoElement} video
   * @param {string} url its own blob: URL of the file (revoked by `close`; the page's player has another)
   */
  constructor(video, url) {
    this.video = video;
    this.url = url;
  }

  /** @returns {number} */
  get width() {
    return this.video.videoWidth;
  }

  /** @returns {number} */
  get height() {
    return this.video.videoHeight;
  }

  /** @returns {number} seconds */
  get duration() {
    return this.video.duration;
  }

  /**
   * Opens a file; rejects with a VideoError (with a message for people) when it does not decode.
   * @param {File} file
   * @param {AbortSignal} [signal]
   * @returns {Promise<VideoSource>}
   */
  static async open(file, signal) {
    const video = document.createElement('video');
    video.muted = true;
    video.preload = 'auto';
    video.playsInline = true;
    const url = URL.createObjectURL(file);
    const source = new VideoSource(video, url);
    try {
      // 'loadeddata': the first frame is decoded, so the codec works, not only the container.
      await waitForEvent(video, ['loadeddata'], OPEN_TIMEOUT_MS, signal, () => {
        video.src = url;
      });
      if (!video.videoWidth || !video.videoHeight) {
        throw new VideoError('no-picture', 'This file has no picture track (only sound?), so there is nothing to analyse.');
      }
      await source.findDuration(signal);
      return source;
    } catch (error) {
      source.close();
      if (error instanceof VideoError && !error.message) throw new VideoError(error.code, await undecodableMessage(file));
      throw error;
    }
  }

  /**
   * Some files (e.g. WebM straight from a recorder) do not state their length: seeking far past the end
   * makes the browser find it.
   * @private
   * @param {AbortSignal} [signal]
   */
  async findDuration(signal) {
    const video = this.video;
    if (Number.isFinite(video.duration)) return;
    await waitForEvent(video, ['seeked'], OPEN_TIMEOUT_MS, signal, () => {
      video.currentTime = Number.MAX_SAFE_INTEGER;
    }).catch(() => {});
    if (!Number.isFinite(video.duration)) {
      throw new VideoError('no-duration', 'The length of this clip cannot be read, so its frames cannot be sampled.');
    }
  }

  /**
   * Seeks to `time`; resolves once that frame is decoded and shown (the `seeked` event).
   * @param {number} time seconds
   * @param {AbortSignal} [signal]
   */
  async seek(time, signal) {
    const video = this.video;
    try {
      await waitForEvent(video, ['seeked'], SEEK_TIMEOUT_MS, signal, () => {
        video.currentTime = time;
      });
    } catch (error) {
      if (!(error instanceof VideoError)) throw error;
      throw new VideoError(error.code, `The video stopped decoding at ${time.toFixed(1)} s: the file may be damaged.`);
    }
  }

  /**
   * The current frame as an ImageBitmap at the video's size (the caller owns it: close or transfer it).
   * @returns {Promise<ImageBitmap>}
   */
  grab() {
    return createImageBitmap(this.video);
  }

  /** Stops decoding and frees the URL. */
  close() {
    this.video.removeAttribute('src');
    this.video.load();
    URL.revokeObjectURL(this.url);
  }
}

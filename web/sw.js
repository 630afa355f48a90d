/**
 * The service worker: after one online visit the app (pages, code, TF.js and its wasm files, the model)
 * loads and classifies offline.
 *
 * - TF.js files never change for a given CACHE_VERSION: cache first, precached on install.
 * - Everything else of ours (pages, css, js, the model): network first, so a deployment or a new model
 *   is used at once (the server answers unchanged files with a cheap 304); the cached copy is the
 *   fallback when offline. Redirects (e.g. to the login page) are never stored.
 * - The API is never cached: verdict logs made offline wait in IndexedDB (js/offline-queue.js).
 * Old caches are deleted when a new version activates. Bump CACHE_VERSION when PRECACHE changes.
 * tests/server/test_web_app.py checks that every file under css/ and js/ is in PRECACHE and that
 * SIGNED_IN_PAGES matches server/pages.py's PROTECTED_PAGES.
 */
const CACHE_VERSION = 'unmask-v6';
const PRECACHE = [
  '/login', // where logging out leads, also offline
  '/css/app.css',
  '/css/video.css',
  '/img/icon.svg',
  '/manifest.webmanifest',
  '/js/analyse.js',
  '/js/analysis-page.js',
  '/js/api.js',
  '/js/classifier.js',
  '/js/classifier-worker.js',
  '/js/faces.js',
  '/js/file-kind.js',
  '/js/forms.js',
  '/js/history.js',
  '/js/local-files.js',
  '/js/account.js',
  '/js/charts.js',
  '/js/login.js',
  '/js/model-card.js',
  '/js/logout.js',
  '/js/offline-queue.js',
  '/js/page.js',
  '/js/preprocess.js',
  '/js/provenance.js',
  '/js/provenance-c2pa.js',
  '/js/provenance-containers.js',
  '/js/provenance-panel.js',
  '/js/report.js',
  '/js/result-card.js',
  '/js/tfjs-globals.js',
  '/js/verdict.js',
  '/js/video.js',
  '/js/video-aggregate.js',
  '/js/video-frames.js',
  '/js/video-hash.js',
  '/js/video-hash-worker.js',
  '/js/video-timeline.js',
  '/vendor/tfjs/tf.min.js',
  '/vendor/tfjs/tf-backend-wasm.min.js',
  '/vendor/tfjs/tfjs-backend-wasm.wasm',
  '/vendor/tfjs/tfjs-backend-wasm-simd.wasm',
  '/vendor/tfjs/tfjs-backend-wasm-threaded-simd.wasm',
  '/vendor/faces/blazeface.json',
  '/vendor/faces/blazeface.bin',
  '/vendor/exifr/full.esm.mjs',
  '/vendor/c2pa/c2pa.js',
  '/vendor/c2pa/c2pa_bg.wasm',
];
/** Signed-in pages and the model: cached at install when the visitor is already logged in. */
const SIGNED_IN_PAGES = ['/', '/video', '/history', '/account'];
const SESSION_URL = '/api/session';
const MODEL_URL = '/model/model.json';
const MODEL_METADATA_URL = '/model/metadata.json';
const CACHE_FIRST_PREFIX = '/vendor/';
const CACHE_SIGNED_IN_MESSAGE = 'cache-signed-in';
const NEVER_CACHED_PREFIX = '/api/';

/**
 * The cached copy, else stores a fresh response if it is a real answer (not a redirect to the login page
 * or an error). Cached copies stay: visiting a page refreshes it (network first).
 * @param {Cache} cache
 * @param {string} url
 * @returns {Promise<Response | null>}
 */
async function storeIfSignedIn(cache, url) {
  const cached = await cache.match(url);
  if (cached) return cached;
  const response = await fetch(url).catch(() => null);
  if (!response || !storable(response)) return null;
  await cache.put(url, response.clone());
  return response;
}

/**
 * Caches the signed-in pages and the model (its weight files are listed in model.json) when the visitor
 * is logged in; otherwise they are cached by the first signed-in visit.
 * @param {Cache} cache
 */
async function precacheSignedIn(cache) {
  const session = await fetch(SESSION_URL).then((response) => response.json()).catch(() => null);
  if (!session?.authenticated) return; // nothing to fetch but refusals
  await Promise.all([...SIGNED_IN_PAGES, MODEL_METADATA_URL].map((url) => storeIfSignedIn(cache, url)));
  const model = await storeIfSignedIn(cache, MODEL_URL);
  if (!model) return;
  const { weightsManifest } = await model.json();
  const shards = weightsManifest.flatMap((group) => group.paths.map((path) => new URL(path, self.location.origin + MODEL_URL).pathname));
  await Promise.all(shards.map((url) => storeIfSignedIn(cache, url)));
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE_VERSION)
      .then((cache) => Promise.all([cache.addAll(PRECACHE), precacheSignedIn(cache)]))
      .then(() => self.skipWaiting()),
  );
});

/** A signed-in page asks for the pages and the model to be cached now (its own first load may have
 * happened before this worker took control). */
self.addEventListener('message', (event) => {
  if (event.data === CACHE_SIGNED_IN_MESSAGE) {
    event.waitUntil(caches.open(CACHE_VERSION).then(precacheSignedIn));
  }
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== CACHE_VERSION).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

/**
 * Whether a response may stand in for the request later.
 * @param {Response} response
 * @returns {boolean}
 */
function storable(response) {
  return response.ok && !response.redirected && response.type === 'basic';
}

/**
 * Network first; the cached copy when the network fails.
 * @param {Request} request
 * @returns {Promise<Response>}
 */
async function networkFirst(request) {
  const cache = await caches.open(CACHE_VERSION);
  try {
    const response = await fetch(request);
    if (storable(response)) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request, { ignoreSearch: request.mode === 'navigate' });
    if (cached) return cached;
    throw error;
  }
}

/**
 * Cache first; the network (and a cache fill) on a miss.
 * @param {Request} request
 * @returns {Promise<Response>}
 */
async function cacheFirst(request) {
  const cache = await caches.open(CACHE_VERSION);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (storable(response)) await cache.put(request, response.clone());
  return response;
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith(NEVER_CACHED_PREFIX)) return;
  event.respondWith(url.pathname.startsWith(CACHE_FIRST_PREFIX) ? cacheFirst(event.request) : networkFirst(event.request));
});

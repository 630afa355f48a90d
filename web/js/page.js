// @ts-check
/**
 * What every signed-in page shares: the session check, the log-out button, the offline banner and the
 * service worker that makes the app work offline.
 */
import { getSession, redirectToLogin, rememberedSession } from './api.js';
import { logOut, watchPendingLogout } from './logout.js';

const SERVICE_WORKER_URL = '/sw.js';
const CACHE_SIGNED_IN_MESSAGE = 'cache-signed-in';
const OFFLINE_TEXT = 'You are offline. Analysis still works; verdicts are kept on this device and sent when you are back online.';
const LOGGED_OUT_OFFLINE_TEXT = 'You are logged out, and offline: log in again once you are back online.';

/**
 * Registers the service worker (ignored where unsupported). On a signed-in page it also asks the worker
 * to cache the signed-in pages and the model, so that one online visit is enough to work offline.
 * @param {{signedIn?: boolean}} [options]
 */
export function registerServiceWorker({ signedIn = false } = {}) {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register(SERVICE_WORKER_URL, { scope: '/' }).catch((error) => {
    console.warn('Offline support is unavailable:', error);
  });
  if (signedIn) {
    navigator.serviceWorker.ready.then((registration) => registration.active?.postMessage(CACHE_SIGNED_IN_MESSAGE));
  }
}

/**
 * Keeps the offline banner in step with the connection.
 */
function watchConnection() {
  const banner = /** @type {HTMLElement} */ (document.getElementById('connection'));
  const update = () => {
    banner.hidden = navigator.onLine;
    banner.textContent = navigator.onLine ? '' : OFFLINE_TEXT;
  };
  window.addEventListener('online', update);
  window.addEventListener('offline', update);
  update();
}

/**
 * Wires the log-out button.
 */
function wireLogout() {
  document.querySelector('[data-action="logout"]')?.addEventListener('click', logOut);
}

/**
 * Says that nobody is signed in and the login page cannot be reached, instead of a page waiting for a
 * session (and a model) that will not come.
 */
function showLoggedOutOffline() {
  document.querySelector('.site-header nav')?.remove();
  /** @type {HTMLElement} */ (document.getElementById('main')).replaceChildren(
    Object.assign(document.createElement('h1'), { textContent: 'Logged out' }),
    Object.assign(document.createElement('p'), { textContent: LOGGED_OUT_OFFLINE_TEXT, id: 'logged-out-offline' }),
  );
}

/**
 * Starts a signed-in page: returns the session, or the remembered one when the server is unreachable
 * (offline), or sends the visitor to the login page.
 * @returns {Promise<{username: string, csrf_token: string, offline: boolean}>}
 */
export async function startSignedInPage() {
  watchConnection();
  wireLogout();
  await watchPendingLogout();
  try {
    const session = await getSession();
    if (!session.authenticated) {
      redirectToLogin();
      return new Promise(() => {}); // the page is going away
    }
    registerServiceWorker({ signedIn: true });
    // Signed in: the server always names the account then.
    return { username: /** @type {string} */ (session.username), csrf_token: session.csrf_token, offline: false };
  } catch (error) {
    const remembered = rememberedSession();
    if (error instanceof TypeError && remembered?.username) {
      registerServiceWorker();
      return { username: remembered.username, csrf_token: remembered.csrf_token, offline: true };
    }
    if (error instanceof TypeError) {
      showLoggedOutOffline();
      return new Promise(() => {}); // nothing to start until the user is back online and logs in
    }
    throw error;
  }
}

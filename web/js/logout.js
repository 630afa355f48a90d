// @ts-check
/**
 * Logging out that holds offline: the page forgets the session on this device at once, and the server's
 * session is ended as soon as the network allows (kept pending in localStorage until then, and sent again
 * on every page start and whenever the connection returns), so the next visitor of this browser is never
 * signed in by the old cookie.
 */
import { forgetSession, request } from './api.js';
import { forgetLocalFiles } from './local-files.js';

/** localStorage key: set while the server may still hold the session of a user who logged out here. */
const LOGOUT_PENDING_KEY = 'unmask.logoutPending';

/**
 * Ends the server's session if a logout is pending; leaves it pending while the server is unreachable.
 * Uses a fresh CSRF token (never the remembered session, which must stay forgotten).
 * @returns {Promise<void>}
 */
export async function endPendingLogout() {
  if (!localStorage.getItem(LOGOUT_PENDING_KEY)) return;
  try {
    const session = await request('GET', '/api/session');
    if (session.authenticated) await request('POST', '/api/logout', undefined, { csrfToken: session.csrf_token });
    localStorage.removeItem(LOGOUT_PENDING_KEY);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error; // offline: still pending, sent when the connection returns
  }
}

/**
 * Sends a pending logout now and whenever the connection returns.
 * @returns {Promise<void>}
 */
export function watchPendingLogout() {
  window.addEventListener('online', () => endPendingLogout());
  return endPendingLogout();
}

/**
 * Logs out: forgets the session and the history's thumbnails and file names here at once, ends the session
 * on the server (now, or once back online), and goes to the login page.
 */
export async function logOut() {
  forgetSession();
  localStorage.setItem(LOGOUT_PENDING_KEY, 'true');
  try {
    await forgetLocalFiles(); // the thumbnails and file names of this device's history
    await endPendingLogout();
  } finally {
    location.assign('/login');
  }
}

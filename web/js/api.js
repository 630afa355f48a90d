// @ts-check
/**
 * The server's JSON API. Every state-changing request carries the CSRF token from /api/session; the
 * last session seen is remembered so that verdicts made offline can still be posted later.
 */

const SESSION_KEY = 'unmask.session';

/** An error answer from the server: `{error, field}` plus the HTTP status and Retry-After. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {{field?: string, retryAfterS?: number}} [details]
   */
  constructor(status, message, { field, retryAfterS } = {}) {
    super(message);
    this.status = status;
    this.field = field;
    this.retryAfterS = retryAfterS;
  }
}

let session = null;

/**
 * The current session, fetched once per page (or again with `refresh`).
 * @param {{refresh?: boolean}} [options]
 * @returns {Promise<{authenticated: boolean, username: string|null, csrf_token: string, registration_open: boolean}>}
 */
export async function getSession({ refresh = false } = {}) {
  if (!session || refresh) {
    session = await request('GET', '/api/session');
    localStorage.setItem(SESSION_KEY, JSON.stringify({ username: session.username, csrf_token: session.csrf_token }));
  }
  return session;
}

/**
 * The last session this browser saw, for offline use: `{username, csrf_token}` or null.
 * @returns {{username: string|null, csrf_token: string} | null}
 */
export function rememberedSession() {
  return JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null');
}

/** Forgets the remembered session (after logout or account deletion). */
export function forgetSession() {
  session = null;
  localStorage.removeItem(SESSION_KEY);
}

/**
 * JSON text to a value; null for an empty or non-JSON body (e.g. a proxy's HTML error page).
 * @param {string} text
 */
function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/**
 * A human sentence for a failed response.
 * @param {Response} response
 * @param {{error?: string}} body
 * @returns {string}
 */
function errorMessage(response, body) {
  if (body?.error) return body.error;
  if (response.status === 429) return 'Too many attempts. Please wait and try again.';
  if (response.status >= 500) return 'The server had a problem. Please try again later.';
  return `The request failed (${response.status}).`;
}

/**
 * Sends a request and returns the parsed JSON (or null for an empty answer). Throws ApiError for an
 * error status and TypeError when the network is unreachable.
 * @param {string} method
 * @param {string} url
 * @param {object} [body] sent as JSON
 * @param {{csrfToken?: string}} [options] token to use instead of the current session's
 */
export async function request(method, url, body = undefined, { csrfToken } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken ?? (await getSession()).csrf_token;
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  const parsed = parseJson(await response.text());
  if (!response.ok) {
    const retryAfter = Number(response.headers.get('Retry-After'));
    throw new ApiError(response.status, errorMessage(response, parsed), {
      field: parsed?.field,
      retryAfterS: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    });
  }
  return parsed;
}

/**
 * Sends the user to the login page, coming back here afterwards.
 */
export function redirectToLogin() {
  const next = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

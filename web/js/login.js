/**
 * The login and registration pages: one form posting {username, password} to its `data-endpoint`,
 * then on to the page the visitor came from.
 */
import { getSession, request } from './api.js';
import { handleSubmit } from './forms.js';
import { watchPendingLogout } from './logout.js';
import { registerServiceWorker } from './page.js';

/**
 * Where to go after logging in: the `next` parameter if it leads to this site, else the analyser.
 * It is resolved exactly as the browser would resolve it (which drops tabs and line breaks, so
 * "/\t/evil.example" means "//evil.example"), its origin is compared, and the result is the absolute
 * URL: a path such as "/.//evil.example" normalises to "//evil.example", which as a relative link would
 * leave the site.
 * @param {string} search location.search
 * @param {string} origin location.origin
 * @returns {string}
 */
function nextUrl(search, origin) {
  const home = `${origin}/`;
  const next = new URLSearchParams(search).get('next');
  if (!next) return home;
  try {
    const target = new URL(next, origin);
    return target.origin === origin ? target.href : home;
  } catch {
    return home; // not a URL at all
  }
}

async function main() {
  registerServiceWorker();
  const form = document.getElementById('auth-form');
  handleSubmit(form, async () => {
    const body = { username: form.elements.username.value.trim(), password: form.elements.password.value };
    if (form.elements.remember) body.remember = form.elements.remember.checked;
    await request('POST', form.dataset.endpoint, body);
    await getSession({ refresh: true });
    location.assign(nextUrl(location.search, location.origin));
  });
  await watchPendingLogout(); // a session ended on this device must not sign this page in again
  const session = await getSession();
  if (session.authenticated) location.replace(nextUrl(location.search, location.origin));
  // How to get an account (login page only): register when it is open, otherwise from whoever runs the server.
  document.getElementById('register-link')?.toggleAttribute('hidden', !session.registration_open);
  document.getElementById('ask-for-account')?.toggleAttribute('hidden', session.registration_open);
}

main();

/**
 * The login and registration pages: one form posting {username, password} to its `data-endpoint`,
 * then on to the page the visitor came from.
 */
import { getSession, request } from './api.js';
import { handleSubmit } from './forms.js';
import { registerServiceWorker } from './page.js';

/**
 * Where to go after logging in: the `next` parameter if it leads to this site, else the analyser.
 * It is resolved exactly as the browser would resolve it (which drops tabs and line breaks, so
 * "/\t/evil.example" means "//evil.example"), then its origin is compared.
 * @param {string} search location.search
 * @param {string} origin location.origin
 * @returns {string}
 */
function nextPath(search, origin) {
  const next = new URLSearchParams(search).get('next');
  if (!next) return '/';
  try {
    const target = new URL(next, origin);
    return target.origin === origin ? `${target.pathname}${target.search}${target.hash}` : '/';
  } catch {
    return '/'; // not a URL at all
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
    location.assign(nextPath(location.search, location.origin));
  });
  const session = await getSession();
  if (session.authenticated) location.replace(nextPath(location.search, location.origin));
  document.getElementById('register-link')?.toggleAttribute('hidden', !session.registration_open);
}

main();

/**
 * The login and registration pages: one form posting {username, password} to its `data-endpoint`,
 * then on to the page the visitor came from.
 */
import { getSession, request } from './api.js';
import { handleSubmit } from './forms.js';
import { registerServiceWorker } from './page.js';

/**
 * Where to go after logging in: the `next` parameter if it is a path on this site, else the analyser.
 * @param {string} search location.search
 * @returns {string}
 */
function nextPath(search) {
  const next = new URLSearchParams(search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

async function main() {
  registerServiceWorker();
  const form = document.getElementById('auth-form');
  handleSubmit(form, async () => {
    const body = { username: form.elements.username.value.trim(), password: form.elements.password.value };
    if (form.elements.remember) body.remember = form.elements.remember.checked;
    await request('POST', form.dataset.endpoint, body);
    await getSession({ refresh: true });
    location.assign(nextPath(location.search));
  });
  const session = await getSession();
  if (session.authenticated) location.replace(nextPath(location.search));
  document.getElementById('register-link')?.toggleAttribute('hidden', !session.registration_open);
}

main();

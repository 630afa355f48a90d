/**
 * The account page: change the password, delete the account.
 */
import { forgetSession, request } from './api.js';
import { handleSubmit } from './forms.js';
import { forgetLocalFiles } from './local-files.js';
import { discardAll } from './offline-queue.js';
import { startSignedInPage } from './page.js';

async function main() {
  const session = await startSignedInPage();
  document.getElementById('username').textContent = session.username;

  const passwordForm = document.getElementById('password-form');
  handleSubmit(passwordForm, async (form) => {
    document.getElementById('password-done').textContent = '';
    await request('POST', '/api/password', {
      current_password: form.elements.current_password.value,
      new_password: form.elements.new_password.value,
    });
    form.reset();
    document.getElementById('password-done').textContent = 'Your password has been changed.';
  });

  handleSubmit(document.getElementById('delete-form'), async (form) => {
    await request('DELETE', '/api/account', { password: form.elements.password.value });
    await discardAll(session.username);
    await forgetLocalFiles();
    forgetSession();
    location.assign('/login');
  });
}

main();

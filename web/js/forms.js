/**
 * Form helpers shared by the login, registration and account pages: JSON submission, errors shown
 * next to the field the server names, and the rate-limit wait.
 */
import { ApiError } from './api.js';

/**
 * Removes the error marks of a previous attempt.
 * @param {HTMLFormElement} form
 */
function clearErrors(form) {
  for (const input of form.querySelectorAll('[aria-invalid="true"]')) input.removeAttribute('aria-invalid');
  for (const message of form.querySelectorAll('.field-error')) message.remove();
  form.querySelector('.form-message').textContent = '';
}

/**
 * Shows an error beside a field (described by it for screen readers) and moves focus there.
 * @param {HTMLInputElement} input
 * @param {string} text
 */
function showFieldError(input, text) {
  const message = document.createElement('p');
  message.className = 'field-error';
  message.id = `${input.id}-error`;
  message.textContent = text;
  input.after(message);
  input.setAttribute('aria-invalid', 'true');
  const describedBy = (input.getAttribute('aria-describedby') ?? '').split(' ').filter((id) => id && id !== message.id);
  input.setAttribute('aria-describedby', [...describedBy, message.id].join(' '));
  input.focus();
}

/**
 * The sentence for a failed request.
 * @param {unknown} error
 * @returns {string}
 */
function describe(error) {
  if (error instanceof ApiError) {
    const text = error.message.charAt(0).toUpperCase() + error.message.slice(1);
    return error.retryAfterS ? `${text} (wait ${Math.ceil(error.retryAfterS)} s).` : text;
  }
  if (error instanceof TypeError) return 'The server cannot be reached. Check your connection and try again.';
  return 'Something went wrong. Please try again.';
}

/**
 * Client-side checks: required fields and "repeat the password" fields (`data-same-as`).
 * @param {HTMLFormElement} form
 * @returns {boolean} whether the form may be sent
 */
function checkFields(form) {
  for (const input of form.querySelectorAll('input')) {
    if (input.required && (input.type === 'checkbox' ? !input.checked : !input.value)) {
      showFieldError(input, input.type === 'checkbox' ? 'Please tick this box to confirm.' : 'Please fill this in.');
      return false;
    }
    const twin = input.dataset.sameAs && form.elements.namedItem(input.dataset.sameAs);
    if (twin && twin.value !== input.value) {
      showFieldError(input, 'The two passwords differ.');
      return false;
    }
  }
  return true;
}

/**
 * Sends a form with `send(form)` on submit; errors appear beside the named field or in the form's
 * `.form-message`. The submit button is disabled while the request runs.
 *
 * The templates ship the submit button disabled and this enables it: until the handler is attached, a
 * quick visitor cannot trigger the browser's own submission, which would send the password to the
 * wrong place.
 * @param {HTMLFormElement} form
 * @param {(form: HTMLFormElement) => Promise<void>} send
 */
export function handleSubmit(form, send) {
  const button = form.querySelector('[type="submit"]');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!checkFields(form)) return;
    button.disabled = true;
    try {
      await send(form);
    } catch (error) {
      const input = error instanceof ApiError && error.field && form.elements.namedItem(error.field);
      if (input instanceof HTMLInputElement) showFieldError(input, describe(error));
      else form.querySelector('.form-message').textContent = describe(error);
    } finally {
      button.disabled = false;
    }
  });
  button.disabled = false;
}

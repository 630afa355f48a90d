/**
 * "What the file says": the provenance panel of an image result (camera, software, dates, a declaration
 * of AI generation, Content Credentials, text the file carries, and its location only when the user opens
 * it), and the rule that combines it with the model's verdict.
 */
import { OFFLINE_LIMITS } from './provenance-c2pa.js';
import { PROVENANCE_WORDS } from './verdict.js';

/** How the file's kind reads in the panel's first line. */
const SUMMARY = {
  declared_ai: 'The file declares that it was made with AI.',
  edited: 'The file names editing software.',
  camera: 'The file names the camera it came from.',
  none: 'The file holds metadata, but nothing about a camera, editing or AI.',
  credential_valid: 'The file carries valid Content Credentials (C2PA).',
  credential_invalid: "Warning: the file's Content Credentials (C2PA) do not hold.",
};
const NO_METADATA = 'No metadata: common after upload to social media; it says nothing either way.';
const NO_VIDEO_CREDENTIALS =
  'No Content Credentials (C2PA). Other metadata of video files is not read yet; their absence says nothing either way.';
const COORDINATE_DIGITS = 5;

/**
 * The headline a file's own declaration gives, whatever the model says; null when it declares nothing.
 * @param {import('./provenance.js').Provenance | null} provenance
 * @returns {string | null}
 */
export function provenanceHeadline(provenance) {
  return provenance?.declaration ? `Declared AI-generated (${provenance.declaration.tool})` : null;
}

/**
 * An element with text.
 * @param {string} tag
 * @param {string} text
 * @param {string} [className]
 * @returns {HTMLElement}
 */
function element(tag, text, className = '') {
  return Object.assign(document.createElement(tag), { textContent: text, className });
}

/**
 * A definition list of [term, description] pairs.
 * @param {[string, string][]} rows
 * @param {string} className
 * @returns {HTMLDListElement}
 */
function definitions(rows, className) {
  const list = element('dl', '', className);
  for (const [term, description] of rows) list.append(element('dt', term), element('dd', description));
  return list;
}

/**
 * "Canon EOS R5" from make "Canon" and model "Canon EOS R5" (many models repeat the make), else both.
 * @param {{make: string|null, model: string|null}} camera
 * @returns {string}
 */
function cameraName({ make, model }) {
  if (make && model?.toLowerCase().startsWith(make.toLowerCase())) return model;
  return [make, model].filter(Boolean).join(' ');
}

/**
 * The facts the file states, as rows.
 * @param {import('./provenance.js').Provenance} provenance
 * @returns {[string, string][]}
 */
function factRows({ declaration, camera, software, dates }) {
  const rows = [];
  if (declaration) {
    rows.push(['AI declaration', `${declaration.field}: ${declaration.meaning}`], ['Tool', declaration.tool]);
  }
  if (camera) rows.push(['Camera', cameraName(camera)]);
  if (camera?.lens) rows.push(['Lens', camera.lens]);
  if (software.length) rows.push(['Software', software.join('; ')]);
  for (const { label, value } of dates) rows.push([label, value]);
  return rows;
}

/**
 * A closed disclosure for the location: the coordinates are put in only when the user opens it.
 * @param {{latitude: number, longitude: number}} gps
 * @returns {HTMLDetailsElement}
 */
function locationDisclosure({ latitude, longitude }) {
  const details = element('details', '', 'provenance-location');
  details.append(element('summary', 'The file records where it was taken (hidden; never sent)'));
  const coordinates = element('p', '');
  details.append(coordinates);
  details.addEventListener('toggle', () => {
    coordinates.textContent = details.open
      ? `Latitude ${latitude.toFixed(COORDINATE_DIGITS)}, longitude ${longitude.toFixed(COORDINATE_DIGITS)}`
      : '';
  });
  return details;
}

/**
 * What the credential's validation found, in one sentence.
 * @param {import('./provenance-c2pa.js').Credential} credential
 * @returns {string}
 */
function credentialStatus({ valid, tampered, trusted }) {
  if (tampered) return 'Tampered: the picture or its claims changed after they were signed.';
  if (!valid) return 'Invalid: the credential does not hold.';
  return trusted
    ? 'Valid: the signature holds, the picture is the one that was signed, and the signer is on a trust list.'
    : 'Valid: the signature holds and the picture is the one that was signed; the signer is on no trust list this page knows.';
}

/**
 * The Content Credentials part of the panel.
 * @param {import('./provenance-c2pa.js').Credential} credential
 * @returns {HTMLElement}
 */
function credentialSection(credential) {
  const section = element('div', '', 'provenance-credential');
  section.append(element('h5', 'Content Credentials (C2PA)'));
  section.append(element('p', credentialStatus(credential), credential.valid ? 'credential-status' : 'credential-status provenance-warning'));
  const rows = [];
  if (credential.signer) rows.push(['Signed by', credential.signer]);
  if (credential.signedAt) rows.push(['Signed at', credential.signedAt]);
  if (credential.claimGenerator) rows.push(['Made with', credential.claimGenerator]);
  for (const { action, sourceType, agent } of credential.actions) {
    rows.push(['Action', [action, sourceType, agent].filter(Boolean).join(' · ')]);
  }
  for (const failure of credential.failures) rows.push(['Problem', failure]);
  if (rows.length) section.append(definitions(rows, 'provenance-facts'));
  section.append(element('p', OFFLINE_LIMITS, 'hint'));
  return section;
}

/**
 * The rule, stated where it applies.
 * @param {import('./provenance.js').Provenance} provenance
 * @param {string} modelHeadline what the model alone says
 * @returns {string}
 */
function ruleText(provenance, modelHeadline) {
  const override = provenance.declaration
    ? `The headline follows the file's declaration; the model alone says "${modelHeadline}". `
    : '';
  return (
    override +
    'How the two are combined: a file that declares itself AI-generated is headlined "Declared AI-generated" ' +
    'whatever the model says. A camera name, editing software or valid Content Credentials do not change the ' +
    'verdict: metadata is easy to remove or to write, so it never proves a photo authentic, and its absence ' +
    'proves nothing; invalid or tampered Content Credentials are a warning of their own. ' +
    `Nothing of this leaves your device; the history records one word: ${PROVENANCE_WORDS[provenance.kind]}.`
  );
}

/**
 * Adds the panel to a result card's body (nothing for a result without provenance, e.g. a video frame).
 * @param {HTMLElement} body the card's `.result-body` (the video card's article)
 * @param {import('./provenance.js').Provenance | null} provenance
 * @param {string} modelHeadline the model's own headline, quoted when the declaration overrides it
 */
export function showProvenance(body, provenance, modelHeadline) {
  if (!provenance) return;
  const panel = element('section', '', 'provenance');
  panel.dataset.provenance = provenance.kind;
  body.closest('.result-card')?.classList.toggle('declared-ai', Boolean(provenance.declaration));
  panel.append(element('h4', 'What the file says'));
  const warning = provenance.kind === 'credential_invalid' ? ' provenance-warning' : '';
  const nothing = provenance.credentialsOnly ? NO_VIDEO_CREDENTIALS : NO_METADATA;
  panel.append(element('p', provenance.found ? SUMMARY[provenance.kind] : nothing, `provenance-summary${warning}`));
  const rows = factRows(provenance);
  if (rows.length) panel.append(definitions(rows, 'provenance-facts'));
  if (provenance.credential) panel.append(credentialSection(provenance.credential));
  if (provenance.texts.length) {
    const texts = element('details', '', 'provenance-texts');
    texts.append(element('summary', `Text in the file (${provenance.texts.length})`));
    texts.append(definitions(provenance.texts.map(({ source, text }) => [source, text]), 'provenance-facts'));
    panel.append(texts);
  }
  if (provenance.gps) panel.append(locationDisclosure(provenance.gps));
  if (provenance.problem) panel.append(element('p', provenance.problem, 'hint'));
  panel.append(element('p', ruleText(provenance, modelHeadline), 'provenance-rule hint'));
  body.append(panel);
}

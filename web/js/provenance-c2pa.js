// @ts-check
/**
 * C2PA Content Credentials, read and validated on this device with the Content Authenticity Initiative's
 * WebAssembly build of c2pa-rs (@contentauth/c2pa-wasm, served by us from /vendor/c2pa/). The 8 MB module
 * is loaded only for a file that carries a manifest. No network: no OCSP, no remote manifests, no trust list.
 */

const C2PA_MODULE_URL = '/vendor/c2pa/c2pa.js';
/** Resolved against this module, not the worker's location (which can be a blob: URL). */
const C2PA_WASM_URL = new URL('/vendor/c2pa/c2pa_bg.wasm', import.meta.url);
/** c2pa-rs settings: never fetch anything (the page's CSP would refuse it anyway). */
const READER_CONTEXT = JSON.stringify({ verify: { ocsp_fetch: false, remote_manifest_fetch: false } });
/** Failure codes that mean the picture or its claims changed after signing. */
const TAMPER_CODES = /(?:dataHash|bmffHash|boxesHash|collectionHash|hashedURI)\.mismatch|claimSignature\.mismatch/;
/** The code for a signer on no trust list this page knows: every signer, offline without a list. */
const UNTRUSTED_CODE = 'signingCredential.untrusted';
/** What offline validation can and cannot check, shown with every credential. */
export const OFFLINE_LIMITS =
  'Checked on this device, offline: the signature, the certificate chain and its validity dates, and the ' +
  'hashes that tie the credential to this picture. Not checked: whether the certificate was revoked (no ' +
  'OCSP or revocation list is fetched), signed time-stamps against a time-stamp authority, and whether the ' +
  'signer is on the C2PA trust list (this page carries none, so no signer is shown as trusted).';

/** @type {Credential} */
const EMPTY_CREDENTIAL = {
  valid: false,
  tampered: false,
  trusted: false,
  signer: null,
  signedAt: null,
  claimGenerator: null,
  actions: [],
  failures: [],
};

/** @type {Promise<object> | null} */
let c2paModule = null;

/**
 * The C2PA module, loaded and started once (tried again on the next file if loading failed, e.g. offline
 * before it was ever cached).
 * @returns {Promise<object>}
 */
function loadC2pa() {
  c2paModule ??= import(C2PA_MODULE_URL)
    .then(async (module) => {
      await module.default({ module_or_path: C2PA_WASM_URL });
      return module;
    })
    .catch((error) => {
      c2paModule = null;
      throw error;
    });
  return c2paModule;
}

/**
 * @typedef {object} Credential
 * @property {boolean} valid the signature and every hash check out (the signer may still be untrusted)
 * @property {boolean} tampered the picture or the claim changed after signing
 * @property {boolean} trusted the signer is on a trust list (never, offline without one)
 * @property {string | null} signer who signed (certificate issuer and common name)
 * @property {string | null} signedAt
 * @property {string | null} claimGenerator the software that made the claim
 * @property {{action: string, sourceType: string | null, agent: string | null}[]} actions
 * @property {string[]} failures the validator's failure explanations, untrusted signer left out
 */

/**
 * The last path segment of an IPTC DigitalSourceType URI ("…/digitalsourcetype/trainedAlgorithmicMedia").
 * @param {unknown} value
 * @returns {string | null}
 */
export function sourceTypeCode(value) {
  return typeof value === 'string' && value ? (value.split('/').pop() ?? null) : null;
}

/**
 * A software agent as text: c2pa-rs gives a string or {name, version}.
 * @param {string | {name?: string, version?: string} | null | undefined} agent
 * @returns {string | null}
 */
function agentName(agent) {
  if (!agent) return null;
  if (typeof agent === 'string') return agent;
  return [agent.name, agent.version].filter(Boolean).join(' ') || null;
}

/**
 * The actions of a manifest (c2pa.actions and c2pa.actions.v2 assertions).
 * @param {object} manifest
 * @returns {{action: string, sourceType: string | null, agent: string | null}[]}
 */
function actionsOf(manifest) {
  return (manifest.assertions ?? [])
    .filter(({ label }) => typeof label === 'string' && label.startsWith('c2pa.actions'))
    .flatMap(({ data }) => data?.actions ?? [])
    .map((entry) => ({
      action: String(entry.action ?? ''),
      sourceType: sourceTypeCode(entry.digitalSourceType),
      agent: agentName(entry.softwareAgent),
    }));
}

/**
 * Sums up a manifest store (c2pa-rs's Reader JSON) as one credential: the active manifest's.
 * @param {object} store
 * @returns {Credential}
 */
function describeStore(store) {
  const manifest = store.manifests?.[store.active_manifest];
  if (!manifest) return { ...EMPTY_CREDENTIAL, failures: ['the file holds no active manifest'] };
  const failures = (store.validation_status ?? []).filter(({ code }) => code !== UNTRUSTED_CODE);
  const generator = manifest.claim_generator_info?.[0];
  const signature = manifest.signature_info ?? {};
  return {
    valid: store.validation_state !== 'Invalid' && failures.length === 0,
    tampered: failures.some(({ code }) => TAMPER_CODES.test(code)),
    trusted: store.validation_state === 'Trusted',
    signer: [signature.issuer, signature.common_name].filter(Boolean).join(', ') || null,
    signedAt: signature.time ?? null,
    claimGenerator: agentName(generator) ?? manifest.claim_generator ?? null,
    actions: actionsOf(manifest),
    failures: failures.map(({ code, explanation }) => explanation || code),
  };
}

/**
 * Reads and validates the file's Content Credentials.
 * @param {Blob} blob the whole file
 * @param {string} format its media type, e.g. 'image/jpeg'
 * @returns {Promise<Credential>}
 */
export async function readCredential(blob, format) {
  const { WasmReader } = await loadC2pa();
  let reader;
  try {
    reader = await WasmReader.fromBlob(format, blob, READER_CONTEXT);
  } catch (error) {
    // c2pa-rs reports a manifest it cannot read as a string: a credential that does not hold. A JavaScript
    // exception is this page's problem, not the file's: the caller reports it as such.
    if (error instanceof Error) throw error;
    return { ...EMPTY_CREDENTIAL, failures: [`the credential could not be read (${error})`] };
  }
  try {
    return describeStore(JSON.parse(reader.json()));
  } finally {
    reader.free();
  }
}

// @ts-check
/**
 * Imported by the classifier worker before TF.js. tf.min.js bundles the regenerator-runtime polyfill,
 * which assigns the global `regeneratorRuntime`; in a module worker (strict mode) that assignment throws
 * unless the global already exists, and the polyfill's fallback, `Function(...)`, is refused by our
 * Content-Security-Policy (no 'unsafe-eval'). Declaring the global keeps TF.js on the plain assignment.
 */
globalThis.regeneratorRuntime = undefined;

// @ts-check
/**
 * A checker of the JSON Schema subset that unmask/contract.py generates (verdict-log.schema.json): type,
 * enum, const, minimum, maximum, exclusiveMaximum, minLength, maxLength, pattern, properties, required,
 * additionalProperties: false, anyOf, allOf and if/then/else. Any other keyword is an error, so a schema
 * that grows past this subset fails the test instead of passing unchecked. For the tests only.
 */

const KNOWN = new Set([
  '$schema', 'title', 'description', 'type', 'enum', 'const', 'minimum', 'maximum', 'exclusiveMaximum',
  'minLength', 'maxLength', 'pattern', 'properties', 'required', 'additionalProperties', 'anyOf', 'allOf',
  'if', 'then', 'else',
]);

/**
 * @param {any} value
 * @returns {string}
 */
function typeOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (Number.isInteger(value)) return 'integer';
  return typeof value;
}

/**
 * The problems of `value` under `schema` (empty when it is valid), each with its JSON path.
 * @param {any} schema
 * @param {any} value
 * @param {string} [path]
 * @returns {string[]}
 */
export function problems(schema, value, path = '$') {
  const found = [];
  for (const key of Object.keys(schema)) if (!KNOWN.has(key)) throw new Error(`unsupported schema keyword ${key} at ${path}`);
  if (schema.type !== undefined) {
    const types = [schema.type].flat();
    const actual = typeOf(value);
    if (!types.includes(actual) && !(actual === 'integer' && types.includes('number'))) {
      return [`${path}: ${actual} is not ${types.join(' or ')}`];
    }
  }
  if (schema.enum && !schema.enum.includes(value)) found.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if ('const' in schema && value !== schema.const) found.push(`${path}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) found.push(`${path}: ${value} < ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) found.push(`${path}: ${value} > ${schema.maximum}`);
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) found.push(`${path}: ${value} >= ${schema.exclusiveMaximum}`);
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) found.push(`${path}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) found.push(`${path}: longer than ${schema.maxLength}`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) found.push(`${path}: does not match ${schema.pattern}`);
  }
  if (typeOf(value) === 'object') {
    for (const name of schema.required ?? []) if (!(name in value)) found.push(`${path}.${name}: required`);
    for (const [name, item] of Object.entries(value)) {
      const property = schema.properties?.[name];
      if (property) found.push(...problems(property, item, `${path}.${name}`));
      else if (schema.additionalProperties === false) found.push(`${path}.${name}: unknown field`);
    }
  }
  if (schema.anyOf && !schema.anyOf.some((/** @type {any} */ option) => !problems(option, value, path).length)) {
    found.push(`${path}: matches none of anyOf`);
  }
  for (const part of schema.allOf ?? []) found.push(...problems(part, value, path));
  if (schema.if) {
    const branch = problems(schema.if, value, path).length ? schema.else : schema.then;
    if (branch) found.push(...problems(branch, value, path));
  }
  return found;
}

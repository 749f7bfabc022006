import { invalidParams } from './errors.js';

// Checks for request parameters: wrong types get an InvalidParams error
// that names the field, before any domain code runs.

type Kind = 'string' | 'boolean' | 'number' | 'string[]' | 'object';

export type Shape = Record<string, Kind | `${Kind}?`>;

const MAX_ITEMS = 10_000;
const MAX_STRING = 10_000;

function check(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'string': return typeof value === 'string' && value.length <= MAX_STRING;
    case 'boolean': return typeof value === 'boolean';
    case 'number': return typeof value === 'number' && Number.isFinite(value);
    case 'object': return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'string[]': return Array.isArray(value) && value.length <= MAX_ITEMS && value.every((v) => typeof v === 'string' && v.length <= MAX_STRING);
  }
}

export function params<T>(raw: unknown, shape: Shape): T {
  const given = raw ?? {};
  if (typeof given !== 'object' || Array.isArray(given)) throw invalidParams('params must be an object');
  for (const [name, spec] of Object.entries(shape)) {
    const optional = spec.endsWith('?');
    const kind = spec.replace('?', '') as Kind;
    const value = (given as Record<string, unknown>)[name];
    if (value === undefined || value === null) {
      if (!optional) throw invalidParams(`${name} is required (${kind})`);
      continue;
    }
    if (!check(value, kind)) throw invalidParams(`${name} must be ${kind === 'string[]' ? `a list of at most ${MAX_ITEMS} strings` : `a ${kind}`}`);
  }
  return given as T;
}

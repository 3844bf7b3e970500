// Partial matching of Kubernetes objects, chainsaw-style: every key of the expected map must
// be in the actual one with a matching value; arrays match element by element and must have
// the same length; scalars compare as strings when one side is a number and the other a
// string ("80" matches 80, as YAML authors expect).

export interface Mismatch {
  /** Dotted path: spec.ports[0].port */
  path: string;
  expected: unknown;
  /** undefined when the field is missing. */
  actual: unknown;
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

export function partialMatch(expected: unknown, actual: unknown, path = ''): Mismatch[] {
  if (expected === null || expected === undefined) return actual === null || actual === undefined ? [] : [{ path, expected, actual }];
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return [{ path, expected, actual }];
    return expected.flatMap((e, i) => partialMatch(e, actual[i], join(path, i)));
  }
  if (typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return [{ path, expected, actual }];
    return Object.entries(expected as Record<string, unknown>).flatMap(([k, v]) => partialMatch(v, (actual as Record<string, unknown>)[k], join(path, k)));
  }
  if (actual === expected) return [];
  if ((typeof actual === 'number' || typeof actual === 'string' || typeof actual === 'boolean') && String(actual) === String(expected)) return [];
  return [{ path, expected, actual }];
}

/** A value as a short string for a sentence: scalars bare, the rest as compact JSON. */
export function show(v: unknown): string {
  if (v === undefined) return '(not set)';
  if (typeof v === 'string') return `"${v}"`;
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

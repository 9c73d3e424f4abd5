/** Reads a dotted path (`data.items`, `''` for the value itself) from parsed JSON. */
export function readPath(value: unknown, path: string): unknown {
  if (path === '') return value;
  let at: unknown = value;
  for (const part of path.split('.')) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

/** A record's time as epoch ms: numbers in s, ms or µs by magnitude, or an ISO/RFC 3339 string. */
export function timeOfValue(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) {
    if (v < 1e11) return v * 1000;
    if (v < 1e14) return v;
    return v / 1000;
  }
  if (typeof v === 'string') {
    const n = Number(v);
    if (v.trim() !== '' && Number.isFinite(n)) return timeOfValue(n);
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

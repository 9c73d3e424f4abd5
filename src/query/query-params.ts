import type { DatasetLayout } from '../core/dataset.js';
import { parseDuration } from '../core/duration.js';
import { SluiceError } from '../core/errors.js';
import { parseTimeToUs } from '../ingest/time-parse.js';
import type { KeyFilter } from '../store/series-store.js';

/** Query-string values: Fastify gives a string, or an array when a name repeats. */
export type QueryValue = string | string[] | undefined;

export function values(v: QueryValue): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/**
 * Splits a query string into key-column filters and the named options; any other name is an error
 * that lists what is accepted, so a typo never silently widens a query.
 */
export function keyFilterOf(
  layout: DatasetLayout,
  query: Record<string, QueryValue>,
  options: readonly string[],
): KeyFilter {
  const filter: Record<string, string[]> = {};
  const keyNames = new Set(layout.keys.map((k) => k.name));
  for (const [name, raw] of Object.entries(query)) {
    if (options.includes(name)) continue;
    if (!keyNames.has(name))
      throw new SluiceError(
        'bad_query',
        `Unknown query parameter '${name}'; key columns of '${layout.spec.name}': ${[...keyNames].join(', ')}` +
          (options.length > 0 ? `; options: ${options.join(', ')}` : ''),
      );
    filter[name] = values(raw);
  }
  return filter;
}

/** A time bound from RFC 3339 text or epoch seconds/ms/µs/ns; undefined when absent. */
export function timeParam(name: string, v: QueryValue): number | undefined {
  const s = values(v)[0];
  if (s === undefined || s === '') return undefined;
  const us = parseTimeToUs(s);
  if (us === undefined) throw new SluiceError('bad_query', `'${name}' is not a time: ${s}`);
  return us;
}

export function durationParam(name: string, v: QueryValue): number | undefined {
  const s = values(v)[0];
  if (s === undefined || s === '') return undefined;
  const ms = parseDuration(s);
  if (ms === undefined || ms <= 0)
    throw new SluiceError('bad_query', `'${name}' is not a duration such as 1m, 1h, 1d: ${s}`);
  return ms;
}

export function enumParam<T extends string>(name: string, v: QueryValue, allowed: readonly T[], dflt: T): T {
  const s = values(v)[0];
  if (s === undefined || s === '') return dflt;
  if (!(allowed as readonly string[]).includes(s))
    throw new SluiceError('bad_query', `'${name}' must be one of ${allowed.join(', ')}; got ${s}`);
  return s as T;
}

export function intParam(name: string, v: QueryValue, dflt: number, min: number, max: number): number {
  const s = values(v)[0];
  if (s === undefined || s === '') return dflt;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new SluiceError('bad_query', `'${name}' must be an integer from ${min} to ${max}; got ${s}`);
  return n;
}

export function isoOfUs(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

/** Every query over a window refuses bounds out of order the same way, naming both. */
export function requireWindowOrder(fromUs: number, toUs: number): void {
  if (toUs > fromUs) return;
  const show = (us: number) => (Number.isFinite(us) ? isoOfUs(us) : String(us));
  throw new SluiceError('bad_query', `'to' (${show(toUs)}) must be after 'from' (${show(fromUs)})`);
}

/**
 * Exponential backoff with full jitter (a uniform delay between 0 and the capped exponential), so that
 * many connectors failing together do not retry in lockstep. A provider's `Retry-After` is a floor: we
 * never call earlier than it asked.
 */
export function backoffMs(
  attempt: number,
  opts: { baseMs: number; maxMs: number; retryAfterMs?: number; random?: () => number },
): number {
  const cap = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(attempt, 30));
  const jittered = (opts.random ?? Math.random)() * cap;
  return Math.max(jittered, opts.retryAfterMs ?? 0);
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date (relative to `nowMs`). */
export function parseRetryAfter(header: string | string[] | undefined, nowMs: number): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

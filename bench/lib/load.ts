import { Pool } from 'undici';
import { round, summarize, type LatencySummary } from './latency.js';

export interface LoadResult extends LatencySummary {
  requests: number;
  rps: number;
  statuses: Record<string, number>;
  errors: number;
}

interface LoadTarget {
  origin: string;
  headers: Record<string, string>;
  /** The path of the next request (called once per request). */
  nextPath: () => string;
}

function finish(samples: number[], statuses: Record<string, number>, errors: number, ms: number): LoadResult {
  const s = summarize(samples);
  return { ...s, requests: s.count, rps: Math.round(s.count / (ms / 1000)), statuses, errors };
}

async function timedGet(
  pool: Pool,
  target: LoadTarget,
  samples: number[],
  statuses: Record<string, number>,
): Promise<boolean> {
  const t0 = performance.now();
  try {
    const res = await pool.request({ method: 'GET', path: target.nextPath(), headers: target.headers });
    await res.body.dump();
    samples.push(performance.now() - t0);
    statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
    return true;
  } catch {
    return false;
  }
}

/**
 * Closed loop: `concurrency` workers, each on its own keep-alive connection, send the next request as
 * soon as the previous one is answered, for `durationMs`. Requests/s is then what the server sustains.
 */
export async function closedLoop(
  target: LoadTarget,
  opts: { concurrency: number; durationMs: number; warmupMs?: number },
): Promise<LoadResult> {
  const pool = new Pool(target.origin, { connections: opts.concurrency, pipelining: 1 });
  try {
    const run = async (ms: number) => {
      const samples: number[] = [];
      const statuses: Record<string, number> = {};
      let errors = 0;
      const start = performance.now();
      const end = start + ms;
      const worker = async () => {
        while (performance.now() < end) {
          if (!(await timedGet(pool, target, samples, statuses))) errors++;
        }
      };
      await Promise.all(Array.from({ length: opts.concurrency }, worker));
      return finish(samples, statuses, errors, performance.now() - start);
    };
    if (opts.warmupMs) await run(opts.warmupMs);
    return await run(opts.durationMs);
  } finally {
    await pool.close();
  }
}

/**
 * Open loop at a steady rate: a request is sent every 1000/rate ms whether or not earlier ones were
 * answered (a late timer sends the missed ones at once), until `stop()` is true or `maxRequests` went.
 * Latency is measured from when each request is handed to the client.
 */
export async function openLoop(
  target: LoadTarget,
  opts: { rate: number; connections: number; stop: () => boolean; maxRequests?: number },
): Promise<LoadResult> {
  const pool = new Pool(target.origin, { connections: opts.connections, pipelining: 1 });
  const samples: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  const interval = 1000 / opts.rate;
  const start = performance.now();
  let sent = 0;
  try {
    while (!opts.stop() && sent < (opts.maxRequests ?? Infinity)) {
      const due = start + sent * interval;
      const wait = due - performance.now();
      if (wait > 0) {
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      sent++;
      const p: Promise<void> = timedGet(pool, target, samples, statuses).then((ok) => {
        if (!ok) errors++;
        inFlight.delete(p);
      });
      inFlight.add(p);
    }
    await Promise.all(inFlight);
    return finish(samples, statuses, errors, performance.now() - start);
  } finally {
    await pool.close();
  }
}

export { round };

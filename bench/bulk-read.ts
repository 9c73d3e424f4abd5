/**
 * Bulk reads against one request per key, in the same run on the same server and data: a day of hourly
 * means (and per-key statistics) for 1,000 devices, as one `POST /v1/query` and as 1,000 single-key GETs sent
 * by `--concurrency` keep-alive connections (a reasonably parallel client, not a sequential strawman).
 * Each side runs `--repeat` times and the median counts. The answers are checked equal, device by device.
 *
 * Run: npm run bench -- bulk-read [--rows 200_000] [--keys 1000] [--concurrency 8] [--repeat 5] [--profile <dir>]
 * `--profile` writes a V8 CPU profile of the Sluice server (all its threads) into <dir>.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'undici';
import { numberArg } from './lib/args.js';
import { round } from './lib/latency.js';
import { startSluice, type SluiceServer } from './lib/sluice-server.js';
import { benchTempDir } from './lib/temp-dir.js';
import { postUpload, waitUploadFinal } from './lib/upload-client.js';
import { writeChunks } from './lib/write-chunks.js';
import { newExpectation, readingsFile } from '../src/sim/readings-file.js';

const ROWS = numberArg('rows', 200_000);
const KEYS = numberArg('keys', 1000);
const CONCURRENCY = numberArg('concurrency', 8);
const REPEAT = numberArg('repeat', 5);
const profileAt = process.argv.indexOf('--profile');
const PROFILE_DIR = profileAt > 0 ? path.resolve(process.argv[profileAt + 1] ?? 'profiles') : null;
/** A dashboard's question: one day of hourly means per key (the file spans longer at the default size). */
const FROM = '2025-01-01T00:00:00Z';
const TO = '2025-01-02T00:00:00Z';
const SERIES_QUERY = `from=${FROM}&to=${TO}&step=1h&agg=mean&limit=1000000`;

interface SeriesAnswer {
  series: { key: { device_id: string }; points: unknown[] }[];
}
interface StatsAnswer {
  stats?: { key: { device_id: string }; fields: unknown }[];
  key?: { device_id: string };
  fields?: unknown;
}

async function json<T>(
  pool: Pool,
  method: 'GET' | 'POST',
  url: string,
  auth: object,
  body?: object,
): Promise<T> {
  const res = await pool.request({
    method,
    path: url,
    headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200)
    throw new Error(`${method} ${url} answered ${res.statusCode}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** Runs `fn` `REPEAT` times; the median wall time in ms and the last answer. */
async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const times: number[] = [];
  let value: T | undefined;
  for (let i = 0; i < REPEAT; i++) {
    const t0 = performance.now();
    value = await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, value: value! };
}

async function singles<T>(pool: Pool, auth: object, paths: string[]): Promise<T[]> {
  const out = new Array<T>(paths.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < paths.length; i = next++) out[i] = await json<T>(pool, 'GET', paths[i]!, auth);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return out;
}

function sameSeries(
  a: SeriesAnswer['series'][number] | undefined,
  b: SeriesAnswer['series'][number] | undefined,
) {
  if (!a || !b || a.points.length !== b.points.length) return a === b;
  return a.points.every((p, i) => {
    const q = b.points[i] as Record<string, unknown>;
    return Object.entries(p as Record<string, unknown>).every(([k, v]) =>
      typeof v === 'number' && typeof q[k] === 'number'
        ? Math.abs(v - (q[k] as number)) <= 1e-9 * Math.max(1, Math.abs(v))
        : v === q[k],
    );
  });
}

async function measure(server: SluiceServer, keys: string[]) {
  const pool = new Pool(server.url, { connections: CONCURRENCY, pipelining: 1 });
  try {
    const bulkSeries = () =>
      json<SeriesAnswer>(pool, 'POST', '/v1/query', server.auth, {
        dataset: 'readings',
        kind: 'series',
        keys,
        from: FROM,
        to: TO,
        step: '1h',
        agg: 'mean',
        limit: 1_000_000,
      });
    const seriesPaths = keys.map((k) => `/v1/datasets/readings/series?device_id=${k}&${SERIES_QUERY}`);
    const bulkStats = () =>
      json<StatsAnswer>(pool, 'POST', '/v1/query', server.auth, { dataset: 'readings', kind: 'stats', keys });
    const statsPaths = keys.map((k) => `/v1/datasets/readings/stats?device_id=${k}`);
    // Warm both paths (JIT, DuckDB caches) before timing.
    await bulkSeries();
    await singles<SeriesAnswer>(pool, server.auth, seriesPaths.slice(0, 50));

    const bulk = await timed(bulkSeries);
    const single = await timed(() => singles<SeriesAnswer>(pool, server.auth, seriesPaths));
    const bulkS = await timed(bulkStats);
    const singleS = await timed(() => singles<StatsAnswer>(pool, server.auth, statsPaths));

    // Same answers, device by device. Means may differ in the last bits: DuckDB sums in parallel, in
    // an order that depends on the rows a query scans.
    const byKey = new Map(bulk.value.series.map((s) => [s.key.device_id, s]));
    single.value.forEach((a, i) => {
      if (!sameSeries(byKey.get(keys[i]!), a.series[0]))
        throw new Error(
          `series for ${keys[i]} differ: bulk ${JSON.stringify(byKey.get(keys[i]!))} single ${JSON.stringify(a.series[0])}`,
        );
    });
    const statsByKey = new Map(bulkS.value.stats!.map((s) => [s.key.device_id, JSON.stringify(s.fields)]));
    singleS.value.forEach((a, i) => {
      if (statsByKey.get(keys[i]!) !== JSON.stringify(a.fields))
        throw new Error(`stats for ${keys[i]} differ between the bulk and the single answer`);
    });
    return {
      points: bulk.value.series.reduce((n, s) => n + s.points.length, 0),
      bulk_series_ms: round(bulk.ms, 1),
      single_series_ms: round(single.ms, 1),
      series_ratio: round(single.ms / bulk.ms, 1),
      bulk_stats_ms: round(bulkS.ms, 1),
      single_stats_ms: round(singleS.ms, 1),
      stats_ratio: round(singleS.ms / bulkS.ms, 1),
    };
  } finally {
    await pool.close();
  }
}

async function main(): Promise<void> {
  const tmp = benchTempDir();
  try {
    const csv = path.join(tmp.dir, 'readings.csv');
    await writeChunks(csv, readingsFile({ rows: ROWS, devices: KEYS }, newExpectation()));
    const dataDir = path.join(tmp.dir, 'data');
    fs.mkdirSync(dataDir);
    if (PROFILE_DIR) fs.mkdirSync(PROFILE_DIR, { recursive: true });
    const server = await startSluice({
      dataDir,
      nodeArgs: PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [],
    });
    try {
      const posted = await postUpload(server.url, server.auth, 'readings', csv);
      const final = await waitUploadFinal(server.url, server.auth, posted.report.id);
      if (final.report.status !== 'done') throw new Error(`upload ${final.report.status}`);
      const keys = Array.from({ length: KEYS }, (_, k) => `dev-${k}`);
      const figures = await measure(server, keys);
      console.log(
        JSON.stringify({
          bench: 'bulk-read',
          rows: ROWS,
          keys: KEYS,
          concurrency: CONCURRENCY,
          repeat: REPEAT,
          ...figures,
          target_ratio: 20,
        }),
      );
    } finally {
      await server.stop();
    }
  } finally {
    tmp.remove();
  }
}

await main();

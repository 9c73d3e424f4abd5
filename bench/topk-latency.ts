/**
 * Top-K latency under ingest: 30 days of request logs are uploaded and rolled up first; then, while a
 * second upload of recent requests ingests, keep-alive clients ask at a steady rate for the top
 * endpoints by count over the last hour, by count over the last 30 days, and by p95 latency over the
 * last 30 days. Top-K reads rollups (1m buckets at the edges, 1h and 1d ones in the middle), so the
 * 30-day window should cost little more than the hour. The anchor, in the same run and at the same
 * rate, is a bare Fastify route in this process returning a fixed top-K body: the cost of the HTTP
 * round trip alone on this machine.
 *
 * Run: npm run bench -- topk-latency [--history 1_000_000] [--live 1_000_000] [--rate 50]
 *      [--users 1000] [--endpoints 50]
 */
import fs from 'node:fs';
import path from 'node:path';
import Fastify from 'fastify';
import { numberArg } from './lib/args.js';
import { openLoop, type LoadResult } from './lib/load.js';
import { startSluice } from './lib/sluice-server.js';
import { benchTempDir } from './lib/temp-dir.js';
import { postUpload, postUploadApart, waitUploadFinal } from './lib/upload-client.js';
import { writeChunks } from './lib/write-chunks.js';
import { mulberry32 } from '../src/sim/random.js';

const HISTORY = numberArg('history', 1_000_000);
const LIVE = numberArg('live', 1_000_000);
const RATE = numberArg('rate', 50);
const USERS = numberArg('users', 1000);
const ENDPOINTS = numberArg('endpoints', 50);
const CONNECTIONS = 4;
const DAY_MS = 86_400_000;
const STATUSES = ['200', '200', '200', '200', '200', '201', '404', '500'];

function* requestsCsv(rows: number, fromMs: number, toMs: number, seed: number): Generator<string> {
  const rand = mulberry32(seed);
  const step = (toMs - fromMs) / rows;
  let out = 'request_id,timestamp,user_id,endpoint,status_code,latency_ms\n';
  for (let i = 0; i < rows; i++) {
    const e = Math.floor(ENDPOINTS * rand() ** 2);
    out +=
      `r${seed}-${i},${new Date(Math.floor(fromMs + i * step)).toISOString()},user-${Math.floor(USERS * rand() ** 1.5)},` +
      `/api/e${e},${STATUSES[Math.floor(rand() * STATUSES.length)]},${(5 + e * 3 + rand() * 200).toFixed(2)}\n`;
    if ((i + 1) % 50_000 === 0) {
      yield out;
      out = '';
    }
  }
  if (out) yield out;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const topkPath = (windowMs: number, by: string) => (): string => {
  const now = Date.now();
  return `/v1/datasets/requests/topk?k=10&by=${by}&group=endpoint&from=${iso(now - windowMs)}&to=${iso(now)}`;
};

const FIXED_TOPK = {
  dataset: 'requests',
  by: 'count',
  field: null,
  group: 'endpoint',
  k: 10,
  from: '2026-11-21T00:00:00.000Z',
  to: '2026-11-21T01:00:00.000Z',
  exact: true,
  items: Array.from({ length: 10 }, (_, i) => ({ group: `/api/e${i}`, value: 1000 - i, count: 1000 - i })),
};

async function anchorRun(requests: number): Promise<LoadResult> {
  const app = Fastify({ logger: false });
  app.get('/v1/datasets/requests/topk', async () => FIXED_TOPK);
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const addr = app.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('anchor has no port');
    return await openLoop(
      { origin: `http://127.0.0.1:${addr.port}`, headers: {}, nextPath: topkPath(3_600_000, 'count') },
      { rate: RATE, connections: CONNECTIONS, stop: () => false, maxRequests: requests },
    );
  } finally {
    await app.close();
  }
}

function brief(r: LoadResult) {
  return {
    requests: r.requests,
    ok: r.statuses['200'] ?? 0,
    p50_ms: r.p50_ms,
    p99_ms: r.p99_ms,
    max_ms: r.max_ms,
  };
}

async function main(): Promise<void> {
  const tmp = benchTempDir();
  try {
    const now = Date.now();
    const history = path.join(tmp.dir, 'history.csv');
    const live = path.join(tmp.dir, 'live.csv');
    await writeChunks(history, requestsCsv(HISTORY, now - 30 * DAY_MS, now - 3_600_000, 1));
    await writeChunks(live, requestsCsv(LIVE, now - 3_600_000, now, 2));
    const dataDir = path.join(tmp.dir, 'data');
    fs.mkdirSync(dataDir);
    const server = await startSluice({ dataDir });
    let peakRss = NaN;
    const results: Record<string, LoadResult> = {};
    let liveS = 0;
    try {
      const first = await postUpload(server.url, server.auth, 'requests', history);
      await waitUploadFinal(server.url, server.auth, first.report.id);
      // Let the rollups take in the history (flush interval 2 s).
      await new Promise((r) => setTimeout(r, 4000));
      let done = false;
      const uploading = (async () => {
        const posted = await postUploadApart(server.url, server.auth, 'requests', live);
        const final = await waitUploadFinal(server.url, server.auth, posted.report.id);
        liveS = (final.doneAt - posted.startedAt) / 1000;
        if (final.report.status !== 'done') throw new Error(`live upload ${final.report.status}`);
      })().finally(() => {
        done = true;
      });
      const loop = (nextPath: () => string, rate: number) =>
        openLoop(
          { origin: server.url, headers: server.auth, nextPath },
          { rate, connections: CONNECTIONS, stop: () => done },
        );
      const [, hour, month, monthP95] = await Promise.all([
        uploading,
        loop(topkPath(3_600_000, 'count'), RATE),
        loop(topkPath(30 * DAY_MS, 'count'), RATE),
        loop(topkPath(30 * DAY_MS, 'p95'), Math.max(1, RATE / 5)),
      ]);
      results.hour = hour;
      results.month = month;
      results.month_p95 = monthP95;
      peakRss = await server.stop();
    } finally {
      if (Number.isNaN(peakRss)) await server.stop();
    }
    const anchor = await anchorRun(Math.min(results.hour!.requests, 2000));
    console.log(
      JSON.stringify({
        bench: 'topk-latency',
        history_rows: HISTORY,
        live_rows: LIVE,
        users: USERS,
        endpoints: ENDPOINTS,
        rate: RATE,
        live_upload_s: Math.round(liveS * 10) / 10,
        topk_1h_count: brief(results.hour!),
        topk_30d_count: brief(results.month!),
        topk_30d_p95: brief(results.month_p95!),
        anchor_p50_ms: anchor.p50_ms,
        anchor_p99_ms: anchor.p99_ms,
        peak_rss_mb: Math.round(peakRss),
      }),
    );
  } finally {
    tmp.remove();
  }
}

await main();

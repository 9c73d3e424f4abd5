/**
 * Sustained request-log events through the NDJSON records API into the shipped `requests` dataset:
 * `--clients` concurrent clients each POST `--batch`-event bodies to `/v1/datasets/requests/records`
 * (answered once applied) until `--events` are sent. The figure is events / (time from the first byte
 * to the moment every event is queryable, checked with the dataset's statistics count).
 *
 * During ingest an open-loop prober asks the top-K route (`GET /v1/datasets/requests/topk?k=10&by=count
 * &group=endpoint&from&to`) over a 1-hour and a 30-day window, `--topk-rate` requests/s in all. Until
 * that route exists it answers 404 (`not_found`), and the figures are null.
 *
 * Once every event is in, `topk_idle_*` time the same two queries one at a time, after the rollups have
 * caught up: the query's own cost, without ingest beside it.
 *
 * Anchor, same run, same events: in-process DuckDB `CREATE TABLE … AS SELECT * FROM read_json(…)` of the
 * NDJSON file with explicit column types, i.e. parse and store with no HTTP, validation or dedup.
 *
 * Run: npm run bench -- events [--events 1_000_000] [--clients 4] [--batch 20_000] [--topk-rate 20]
 *      [--no-wait] [--profile <dir>]
 */
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Pool } from 'undici';
import { numberArg, flagArg } from './lib/args.js';
import { round, summarize, type LatencySummary } from './lib/latency.js';
import { startSluice, type SluiceServer } from './lib/sluice-server.js';
import { benchTempDir } from './lib/temp-dir.js';
import { requestEvents } from '../src/sim/request-events.js';

const EVENTS = numberArg('events', 1_000_000);
const CLIENTS = numberArg('clients', 4);
const BATCH = numberArg('batch', 20_000);
const TOPK_RATE = numberArg('topk-rate', 20);
/** `--profile <dir>` writes V8 CPU profiles of the server (main and decode threads) into <dir>. */
const profileAt = process.argv.indexOf('--profile');
const PROFILE_DIR = profileAt > 0 ? path.resolve(process.argv[profileAt + 1] ?? 'profiles') : null;
/** Clients take the 202 once rows are durable instead of waiting for them to be applied. */
const NO_WAIT = flagArg('no-wait');

const HOUR_MS = 3_600_000;
/** Longer than the rollup flush interval (2 s), so the idle figures read flushed rollups. */
const IDLE_SETTLE_MS = 5_000;
const IDLE_QUERIES = 40;
const DAY_MS = 24 * HOUR_MS;

async function duckdbReadJson(dir: string, file: string): Promise<{ rows: number; ms: number }> {
  const instance = await DuckDBInstance.create(path.join(dir, 'anchor.duckdb'));
  const conn = await instance.connect();
  try {
    const t0 = performance.now();
    await conn.run(
      `CREATE TABLE t AS SELECT * FROM read_json('${file.replaceAll("'", "''")}', format='newline_delimited', ` +
        `columns={request_id: 'VARCHAR', timestamp: 'BIGINT', user_id: 'VARCHAR', endpoint: 'VARCHAR', ` +
        `status_code: 'VARCHAR', latency_ms: 'DOUBLE'})`,
    );
    const ms = performance.now() - t0;
    const rows = Number((await conn.runAndReadAll('SELECT count(*) FROM t')).getRows()[0]![0]);
    return { rows, ms };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

interface TopkFigures {
  status: 'ok' | 'missing';
  /** Answers other than 200, by status (the first one's body goes to stderr). */
  failures: Record<string, number>;
  window_1h: LatencySummary | null;
  window_30d: LatencySummary | null;
}

/** The top-K route's path over the last `windowMs`. */
function topkPath(windowMs: number): string {
  const now = Date.now();
  const from = new Date(now - windowMs).toISOString();
  return `/v1/datasets/requests/topk?k=10&by=count&group=endpoint&from=${from}&to=${new Date(now).toISOString()}`;
}

/**
 * Top-K once ingest is over and the rollups have caught up (`IDLE_SETTLE_MS` after the last event):
 * `IDLE_QUERIES` sequential requests per window. Beside the figures during ingest, it tells the cost of
 * the query itself from the cost of sharing the machine with ingest.
 */
async function idleTopk(server: SluiceServer): Promise<{ h: LatencySummary; d: LatencySummary }> {
  await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
  const pool = new Pool(server.url, { connections: 1 });
  const run = async (windowMs: number) => {
    const xs: number[] = [];
    for (let i = 0; i < IDLE_QUERIES; i++) {
      const t0 = performance.now();
      const res = await pool.request({ method: 'GET', path: topkPath(windowMs), headers: server.auth });
      const text = await res.body.text();
      if (res.statusCode !== 200)
        throw new Error(`idle top-K answered ${res.statusCode}: ${text.slice(0, 300)}`);
      xs.push(performance.now() - t0);
    }
    return summarize(xs);
  };
  try {
    return { h: await run(HOUR_MS), d: await run(30 * DAY_MS) };
  } finally {
    await pool.close();
  }
}

/** Probes top-K at a steady rate until `stop()`, alternating the two windows. */
async function probeTopk(server: SluiceServer, stop: () => boolean): Promise<TopkFigures> {
  const pool = new Pool(server.url, { connections: 2, pipelining: 1 });
  const samples = { h: [] as number[], d: [] as number[] };
  let missing = false;
  const failures: Record<string, number> = {};
  let sent = 0;
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();
  try {
    while (!stop() && !missing && TOPK_RATE > 0) {
      const due = start + (sent * 1000) / TOPK_RATE;
      const wait = due - performance.now();
      if (wait > 0) {
        await new Promise((r) => setTimeout(r, Math.min(wait, 50)));
        continue;
      }
      const hour = sent % 2 === 0;
      sent++;
      const url = topkPath(hour ? HOUR_MS : 30 * DAY_MS);
      const t0 = performance.now();
      const p: Promise<void> = pool
        .request({ method: 'GET', path: url, headers: server.auth })
        .then(async (res) => {
          const text = await res.body.text();
          const ms = performance.now() - t0;
          if (res.statusCode === 404 && (JSON.parse(text) as { code?: string }).code === 'not_found')
            missing = true;
          else if (res.statusCode !== 200) {
            if (Object.keys(failures).length === 0)
              process.stderr.write(`topk answered ${res.statusCode}: ${text.slice(0, 300)}\n`);
            failures[res.statusCode] = (failures[res.statusCode] ?? 0) + 1;
          } else (hour ? samples.h : samples.d).push(ms);
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  } finally {
    await pool.close();
  }
  if (missing) return { status: 'missing', failures, window_1h: null, window_30d: null };
  const of = (xs: number[]) => (xs.length > 0 ? summarize(xs) : null);
  return { status: 'ok', failures, window_1h: of(samples.h), window_30d: of(samples.d) };
}

async function statsCount(pool: Pool, server: SluiceServer): Promise<number> {
  const res = await pool.request({
    method: 'GET',
    path: '/v1/datasets/requests/stats',
    headers: server.auth,
  });
  const body = (await res.body.json()) as { fields: { latency_ms: { count: number } } };
  return body.fields.latency_ms.count;
}

async function main(): Promise<void> {
  const tmp = benchTempDir();
  try {
    // Bodies are made before the clock starts; the file holds the same events for the anchor.
    const file = path.join(tmp.dir, 'events.ndjson');
    const fd = fs.openSync(file, 'w');
    const bodies: Buffer[] = [];
    const startMs = Date.now() - 50 * 60_000;
    for (const body of requestEvents({ events: EVENTS, batch: BATCH, startMs })) {
      bodies.push(body);
      fs.writeSync(fd, body);
    }
    fs.closeSync(fd);
    const bytes = fs.statSync(file).size;
    const dataDir = path.join(tmp.dir, 'data');
    fs.mkdirSync(dataDir);

    const server = await startSluice({
      dataDir,
      nodeArgs: PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [],
    });
    let peakRss = NaN;
    let elapsedMs = 0;
    let posted = 0;
    let topk: TopkFigures;
    let idle: { h: LatencySummary; d: LatencySummary } | null = null;
    try {
      const pool = new Pool(server.url, { connections: CLIENTS, pipelining: 1 });
      let done = false;
      const t0 = performance.now();
      const probing = probeTopk(server, () => done);
      let next = 0;
      const client = async () => {
        for (let i = next++; i < bodies.length; i = next++) {
          const res = await pool.request({
            method: 'POST',
            path: `/v1/datasets/requests/records${NO_WAIT ? '?wait=false' : ''}`,
            headers: { ...server.auth, 'content-type': 'application/x-ndjson' },
            body: bodies[i],
            headersTimeout: 0,
            bodyTimeout: 0,
          });
          const text = await res.body.text();
          if (res.statusCode !== (NO_WAIT ? 202 : 200))
            throw new Error(`records answered ${res.statusCode}: ${text.slice(0, 300)}`);
          const rows = (JSON.parse(text) as { rows: { invalid: number } }).rows;
          if (rows.invalid > 0) throw new Error(`unexpected rejects: ${text.slice(0, 500)}`);
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, client));
      // Every answer came after its rows were applied (or, with --no-wait, were durable): the clock
      // stops when the statistics count every event.
      let counted = await statsCount(pool, server);
      posted = performance.now() - t0;
      while (NO_WAIT && counted < EVENTS) {
        await new Promise((r) => setTimeout(r, 20));
        counted = await statsCount(pool, server);
      }
      elapsedMs = performance.now() - t0;
      done = true;
      topk = await probing;
      await pool.close();
      if (counted !== EVENTS) throw new Error(`stats count ${counted}, sent ${EVENTS}`);
      if (topk.status === 'ok') idle = await idleTopk(server);
      peakRss = await server.stop();
    } finally {
      if (Number.isNaN(peakRss)) await server.stop();
    }

    const anchor = await duckdbReadJson(tmp.dir, file);
    if (anchor.rows !== EVENTS) throw new Error(`anchor read ${anchor.rows} rows`);
    const sluiceRate = EVENTS / (elapsedMs / 1000);
    const anchorRate = EVENTS / (anchor.ms / 1000);
    console.log(
      JSON.stringify({
        bench: 'events',
        events: EVENTS,
        clients: CLIENTS,
        batch: BATCH,
        file_mb: round(bytes / 2 ** 20, 1),
        wait: !NO_WAIT,
        sluice_events_per_s: Math.round(sluiceRate),
        posted_events_per_s: Math.round(EVENTS / (posted / 1000)),
        duckdb_read_json_events_per_s: Math.round(anchorRate),
        ratio: round(sluiceRate / anchorRate, 3),
        target_events_per_s: 500_000,
        topk_route: topk.status,
        topk_1h_p50_ms: topk.window_1h?.p50_ms ?? null,
        topk_1h_p99_ms: topk.window_1h?.p99_ms ?? null,
        topk_30d_p50_ms: topk.window_30d?.p50_ms ?? null,
        topk_30d_p99_ms: topk.window_30d?.p99_ms ?? null,
        topk_idle_1h_p50_ms: idle?.h.p50_ms ?? null,
        topk_idle_1h_p99_ms: idle?.h.p99_ms ?? null,
        topk_idle_30d_p50_ms: idle?.d.p50_ms ?? null,
        topk_idle_30d_p99_ms: idle?.d.p99_ms ?? null,
        topk_requests: (topk.window_1h?.count ?? 0) + (topk.window_30d?.count ?? 0),
        topk_failures: topk.failures,
        peak_rss_mb: peakRss,
      }),
    );
  } finally {
    tmp.remove();
  }
}

await main();

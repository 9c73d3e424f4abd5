/**
 * Alert rule evaluation cost: readings are uploaded to a `sluice serve` process, then a set of rules
 * (threshold max per device over 1h, threshold p95 over 1h, threshold mean per device over 24h, an
 * anomaly rule per device on 1h buckets) is evaluated again and again with `POST /v1/alerts/evaluate`.
 * The anchor, in the same run and against the same server, is one bucketed series query over the
 * same 24h (`GET …/series?step=1d&agg=mean`): what a single store scan of the window costs through
 * the API. Also times `GET /v1/quality` over the upload's day.
 *
 * Run: npm run bench -- alerts [--rows 1_000_000] [--devices 1000] [--rounds 20]
 */
import path from 'node:path';
import fs from 'node:fs';
import { request } from 'undici';
import { numberArg } from './lib/args.js';
import { round, summarize } from './lib/latency.js';
import { startSluice, type SluiceServer } from './lib/sluice-server.js';
import { benchTempDir } from './lib/temp-dir.js';
import { postUpload, waitUploadFinal } from './lib/upload-client.js';
import { writeChunks } from './lib/write-chunks.js';
import { readingsFile } from '../src/sim/readings-file.js';

const ROWS = numberArg('rows', 1_000_000);
const DEVICES = numberArg('devices', 1000);
const ROUNDS = numberArg('rounds', 20);

const RULES = [
  {
    id: 'hot',
    type: 'threshold',
    dataset: 'readings',
    agg: 'max',
    field: 'value',
    group_by: ['device_id'],
    window: '1h',
    op: '>',
    value: 79,
  },
  {
    id: 'p95',
    type: 'threshold',
    dataset: 'readings',
    agg: 'p95',
    field: 'value',
    window: '1h',
    op: '>',
    value: 1000,
  },
  {
    id: 'daily-mean',
    type: 'threshold',
    dataset: 'readings',
    agg: 'mean',
    field: 'value',
    group_by: ['device_id'],
    window: '24h',
    op: '<',
    value: 0,
  },
  {
    id: 'odd',
    type: 'anomaly',
    dataset: 'readings',
    field: 'value',
    group_by: ['device_id'],
    bucket: '1h',
    warmup: 24,
  },
];

async function call(
  server: SluiceServer,
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
): Promise<number> {
  const t0 = performance.now();
  const res = await request(`${server.url}${url}`, {
    method,
    headers: { ...server.auth, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  if (res.statusCode >= 300)
    throw new Error(`${method} ${url} answered ${res.statusCode}: ${text.slice(0, 300)}`);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const tmp = benchTempDir();
  try {
    // One row a second, ending now, so the rules' windows hold data.
    const startMs = Date.now() - ROWS * 1000;
    const csv = path.join(tmp.dir, 'readings.csv');
    await writeChunks(csv, readingsFile({ rows: ROWS, devices: DEVICES, startMs, invalidShare: 0.01 }));
    const dataDir = path.join(tmp.dir, 'data');
    fs.mkdirSync(dataDir);
    const server = await startSluice({ dataDir });
    try {
      const posted = await postUpload(server.url, server.auth, 'readings', csv);
      const { report } = await waitUploadFinal(server.url, server.auth, posted.report.id);
      if (report.status !== 'done') throw new Error(`upload ended ${report.status}`);
      for (const rule of RULES) await call(server, 'POST', '/v1/alert-rules', rule);

      // The first evaluation lets the anomaly rule learn its history; it is reported apart.
      const firstMs = await call(server, 'POST', '/v1/alerts/evaluate');
      const evaluate: number[] = [];
      const anchor: number[] = [];
      const quality: number[] = [];
      const now = Date.now();
      const seriesUrl = `/v1/datasets/readings/series?from=${now - 86_400_000}&to=${now}&step=1d&agg=mean`;
      for (let i = 0; i < ROUNDS; i++) {
        evaluate.push(await call(server, 'POST', '/v1/alerts/evaluate'));
        anchor.push(await call(server, 'GET', seriesUrl));
        quality.push(await call(server, 'GET', '/v1/quality?dataset=readings&step=1m'));
      }
      const e = summarize(evaluate);
      const a = summarize(anchor);
      console.log(
        JSON.stringify({
          bench: 'alerts',
          rows: ROWS,
          devices: DEVICES,
          rules: RULES.length,
          rounds: ROUNDS,
          first_evaluation_ms: round(firstMs, 1),
          evaluate_all_rules: e,
          anchor_series_24h_query: a,
          ratio_p50: round(e.p50_ms / a.p50_ms, 2),
          quality_24h_by_minute: summarize(quality),
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

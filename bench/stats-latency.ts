/**
 * Query latency under ingest: while a large readings upload (sent by a process of its own, see
 * bench/lib/post-upload.ts) is received and processed, a keep-alive client asks
 * `GET /v1/datasets/readings/stats?device_id=dev-<k>` (random k) at a steady rate until the upload is
 * done. Stats are served from memory, so they should stay fast while the pipeline is busy.
 * The anchor, in the same run and at the same rate, is a bare Fastify route in this process returning a
 * fixed stats-shaped JSON body: the cost of the HTTP round trip alone on this machine.
 *
 * Before a device's first batch is applied its stats answer 404 (`record_not_found`); those answers
 * count as requests like any other, and `ok` says how many were 200.
 *
 * Run: npm run bench -- stats-latency [--rows 5_000_000] [--rate 200] [--connections 8]
 */
import fs from 'node:fs';
import path from 'node:path';
import Fastify from 'fastify';
import { numberArg } from './lib/args.js';
import { openLoop, type LoadResult } from './lib/load.js';
import { startSluice } from './lib/sluice-server.js';
import { benchTempDir } from './lib/temp-dir.js';
import { postUploadApart, waitUploadFinal } from './lib/upload-client.js';
import { writeChunks } from './lib/write-chunks.js';
import { newExpectation, readingsFile } from '../src/sim/readings-file.js';

const ROWS = numberArg('rows', 5_000_000);
const RATE = numberArg('rate', 200);
const DEVICES = 1000;
const CONNECTIONS = numberArg('connections', 8);
/** The anchor needs only enough samples for a stable p99. */
const ANCHOR_MAX_REQUESTS = 4000;

const devicePath = () => `/v1/datasets/readings/stats?device_id=dev-${Math.floor(Math.random() * DEVICES)}`;

const FIXED_STATS = {
  dataset: 'readings',
  key: { device_id: 'dev-7' },
  fields: {
    value: {
      count: 1200,
      min: -3.5,
      max: 41.2,
      mean: 20.1,
      stddev: 5.2,
      p50: 20,
      p95: 28.7,
      p99: 31,
      first: { time: '2024-03-01T00:00:00.000Z', value: 19.5 },
      last: { time: '2024-03-01T19:59:00.000Z', value: 22 },
    },
  },
};

async function anchorRun(requests: number): Promise<LoadResult> {
  const app = Fastify({ logger: false });
  app.get('/v1/datasets/readings/stats', async () => FIXED_STATS);
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const addr = app.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('anchor has no port');
    return await openLoop(
      { origin: `http://127.0.0.1:${addr.port}`, headers: {}, nextPath: devicePath },
      { rate: RATE, connections: CONNECTIONS, stop: () => false, maxRequests: requests },
    );
  } finally {
    await app.close();
  }
}

async function main(): Promise<void> {
  const tmp = benchTempDir();
  try {
    const csv = path.join(tmp.dir, 'readings.csv');
    const expect = newExpectation();
    await writeChunks(csv, readingsFile({ rows: ROWS, devices: DEVICES }, expect));
    const dataDir = path.join(tmp.dir, 'data');
    fs.mkdirSync(dataDir);

    const server = await startSluice({ dataDir });
    let sluice: LoadResult;
    let peakRss = NaN;
    let uploadMs: number;
    try {
      let done = false;
      const uploading = (async () => {
        const posted = await postUploadApart(server.url, server.auth, 'readings', csv);
        const final = await waitUploadFinal(server.url, server.auth, posted.report.id);
        uploadMs = final.doneAt - posted.startedAt;
        return final.report;
      })().finally(() => {
        done = true;
      });
      const loading = openLoop(
        { origin: server.url, headers: server.auth, nextPath: devicePath },
        { rate: RATE, connections: CONNECTIONS, stop: () => done },
      );
      const [report, result] = await Promise.all([uploading, loading]);
      sluice = result;
      if (report.status !== 'done' || report.rows.valid !== expect.valid)
        throw new Error(`upload ${report.status}: ${JSON.stringify(report.rows)} ${report.error ?? ''}`);
      const unexpected = Object.keys(sluice.statuses).filter((s) => s !== '200' && s !== '404');
      if (sluice.errors > 0 || unexpected.length > 0)
        throw new Error(`stats answered ${JSON.stringify(sluice.statuses)} with ${sluice.errors} errors`);
      peakRss = await server.stop();
    } finally {
      if (Number.isNaN(peakRss)) await server.stop();
    }

    const anchor = await anchorRun(Math.min(sluice.requests, ANCHOR_MAX_REQUESTS));
    console.log(
      JSON.stringify({
        bench: 'stats-latency',
        rows: ROWS,
        rate: RATE,
        connections: CONNECTIONS,
        upload_s: Math.round(uploadMs! / 100) / 10,
        requests: sluice.requests,
        ok: sluice.statuses['200'] ?? 0,
        p50_ms: sluice.p50_ms,
        p99_ms: sluice.p99_ms,
        max_ms: sluice.max_ms,
        anchor_requests: anchor.requests,
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

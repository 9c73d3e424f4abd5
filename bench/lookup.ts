/**
 * Point lookups by id on a replace-mode snapshot: a header-less `id,price,expiration_date` file with ids
 * 1..N is uploaded to `promotions`, then a closed-loop load (64 requests in flight, keep-alive) asks
 * `GET /promotions/{random id}` for ~10 s. The anchor, under the same load generator in the same run,
 * is a bare Fastify process serving the same N records from a JS Map (bench/lib/bare-lookup-server.ts).
 * The load generator shares the cores with the server in both cases, so only the ratio holds.
 * The server runs without its per-key request limit (`limits.rate`, 20,000/s by default), which a
 * fast machine reaches with one key: the benchmark measures what the lookups can do, not the limit.
 *
 * Run: npm run bench -- lookup [--rows 10_000_000] [--seconds 10] [--concurrency 64] [--profile <dir>]
 * `--profile` writes a V8 CPU profile of the Sluice server into <dir>.
 */
import fs from 'node:fs';
import path from 'node:path';
import { numberArg } from './lib/args.js';
import { spawnTsx, waitHttpOk } from './lib/child-process.js';
import { freePort } from './lib/free-port.js';
import { round } from './lib/latency.js';
import { closedLoop, type LoadResult } from './lib/load.js';
import { promotionExpiration, promotionPrice, promotionsFile } from './lib/promotions-file.js';
import { BENCH_ADMIN_KEY, startSluice } from './lib/sluice-server.js';
import { benchTempDir } from './lib/temp-dir.js';
import { postUpload, waitUploadFinal } from './lib/upload-client.js';
import { writeChunks } from './lib/write-chunks.js';

const ROWS = numberArg('rows', 10_000_000);
const SECONDS = numberArg('seconds', 10);
const CONCURRENCY = numberArg('concurrency', 64);
const auth = { authorization: `Bearer ${BENCH_ADMIN_KEY}` };
const profileAt = process.argv.indexOf('--profile');
const PROFILE_DIR = profileAt > 0 ? path.resolve(process.argv[profileAt + 1] ?? 'profiles') : null;

const randomId = () => String(1 + Math.floor(Math.random() * ROWS));

/** Checks a few records and a missing id, so a fast wrong answer cannot pass as a result. */
async function verify(origin: string): Promise<void> {
  for (const id of [1, ROWS, 1 + Math.floor(ROWS / 2), 1 + Math.floor(Math.random() * ROWS)]) {
    const res = await fetch(`${origin}/promotions/${id}`, { headers: auth });
    const body = (await res.json()) as { id: string; price: number; expiration_date: string };
    const want = { id: String(id), price: promotionPrice(id), expiration_date: promotionExpiration(id) };
    if (res.status !== 200 || JSON.stringify(body) !== JSON.stringify(want))
      throw new Error(
        `${origin}/promotions/${id}: ${res.status} ${JSON.stringify(body)}, want ${JSON.stringify(want)}`,
      );
  }
  const missing = await fetch(`${origin}/promotions/${ROWS + 1}`, { headers: auth });
  await missing.arrayBuffer();
  if (missing.status !== 404) throw new Error(`${origin}: missing id answered ${missing.status}`);
}

function load(origin: string): Promise<LoadResult> {
  return closedLoop(
    { origin, headers: auth, nextPath: () => `/promotions/${randomId()}` },
    { concurrency: CONCURRENCY, durationMs: SECONDS * 1000, warmupMs: 1000 },
  );
}

function checkAllOk(name: string, r: LoadResult): void {
  if (r.errors > 0 || (r.statuses['200'] ?? 0) !== r.requests)
    throw new Error(`${name}: ${r.errors} errors, statuses ${JSON.stringify(r.statuses)}`);
}

async function main(): Promise<void> {
  const tmp = benchTempDir();
  try {
    const csv = path.join(tmp.dir, 'promotions.csv');
    const bytes = await writeChunks(csv, promotionsFile(ROWS));

    const dataDir = path.join(tmp.dir, 'data');
    fs.mkdirSync(dataDir);
    if (PROFILE_DIR) fs.mkdirSync(PROFILE_DIR, { recursive: true });
    const server = await startSluice({
      dataDir,
      extraConfig: 'limits:\n  rate:\n    default: { requests_per_second: 0 }',
      nodeArgs: PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [],
    });
    let sluice: LoadResult;
    let loadMs: number;
    let sluiceRss: number;
    try {
      const posted = await postUpload(server.url, server.auth, 'promotions', csv);
      const { report, doneAt } = await waitUploadFinal(server.url, server.auth, posted.report.id);
      loadMs = doneAt - posted.startedAt;
      if (report.status !== 'done' || report.rows.valid !== ROWS)
        throw new Error(
          `promotions upload ${report.status}: ${JSON.stringify(report.rows)} ${report.error ?? ''}`,
        );
      await verify(server.url);
      sluice = await load(server.url);
      checkAllOk('sluice', sluice);
    } finally {
      sluiceRss = await server.stop();
    }

    const port = await freePort();
    const bare = spawnTsx('bench/lib/bare-lookup-server.ts', [csv, String(port), BENCH_ADMIN_KEY]);
    let anchor: LoadResult;
    try {
      const origin = `http://127.0.0.1:${port}`;
      await waitHttpOk(`${origin}/healthz`, bare, 15 * 60_000);
      await verify(origin);
      anchor = await load(origin);
      checkAllOk('bare', anchor);
    } finally {
      await bare.stop();
    }

    console.log(
      JSON.stringify({
        bench: 'lookup',
        rows: ROWS,
        file_mb: round(bytes / 2 ** 20, 1),
        load_s: round(loadMs / 1000, 1),
        concurrency: CONCURRENCY,
        sluice_rps: sluice.rps,
        bare_fastify_map_rps: anchor.rps,
        ratio: round(sluice.rps / anchor.rps),
        sluice_p50_ms: sluice.p50_ms,
        sluice_p99_ms: sluice.p99_ms,
        bare_p99_ms: anchor.p99_ms,
        sluice_peak_rss_mb: Math.round(sluiceRss),
      }),
    );
  } finally {
    tmp.remove();
  }
}

await main();

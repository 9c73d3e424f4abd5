/**
 * Replace mode at scale: a `promotions` snapshot of `--rows` rows is loaded, then a second snapshot (every
 * price changed) is uploaded while lookups keep arriving at a steady `--rate`. Reports the lookups' p50/p99
 * during the build, against the same load on the idle server before it (the anchor, same run); checks
 * that every answer is either the old or the new record and that no client ever sees old after new; and
 * reports the data dir's size with one version, at the peak of the build, and after the swap (old space
 * reclaimed).
 *
 * Run: npm run bench -- replace-swap [--rows 100_000_000] [--rate 2000]
 */
import fs from 'node:fs';
import path from 'node:path';
import { numberArg } from './lib/args.js';
import { round } from './lib/latency.js';
import { openLoop } from './lib/load.js';
import { promotionPrice, promotionsFile } from './lib/promotions-file.js';
import { startSluice } from './lib/sluice-server.js';
import { benchTempDir } from './lib/temp-dir.js';
import { postUpload, waitUploadFinal } from './lib/upload-client.js';
import { writeChunks } from './lib/write-chunks.js';

const ROWS = numberArg('rows', 100_000_000);
const RATE = numberArg('rate', 2000);
const OFFSET = 1000;
const randomId = () => 1 + Math.floor(Math.random() * ROWS);

function dirMb(dir: string): number {
  let bytes = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true }))
    // A file can go between the listing and its stat (a SQLite journal): it then counts nothing.
    if (e.isFile())
      bytes += fs.statSync(path.join(e.parentPath, e.name), { throwIfNoEntry: false })?.size ?? 0;
  return Math.round(bytes / 2 ** 20);
}

/** MiB per top-level entry of the data dir (meta.sqlite with its WAL, records/, series.duckdb, batchlog/, uploads/). */
function breakdown(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    const mb = e.isDirectory() ? dirMb(p) : Math.round(fs.statSync(p).size / 2 ** 20);
    const group = e.name.replace(/-(wal|shm)$|\.wal$/, '');
    out[group] = (out[group] ?? 0) + mb;
  }
  return out;
}

async function main(): Promise<void> {
  const tmp = benchTempDir();
  const v1 = path.join(tmp.dir, 'v1.csv');
  const v2 = path.join(tmp.dir, 'v2.csv');
  await writeChunks(v1, promotionsFile(ROWS));
  await writeChunks(v2, promotionsFile(ROWS, 50_000, OFFSET));
  const dataDir = path.join(tmp.dir, 'data');
  fs.mkdirSync(dataDir);
  const server = await startSluice({ dataDir });
  try {
    const first = await postUpload(server.url, server.auth, 'promotions', v1);
    const loaded = await waitUploadFinal(server.url, server.auth, first.report.id);
    if (loaded.report.status !== 'done') throw new Error(`first snapshot ${loaded.report.status}`);
    const oneVersionMb = dirMb(dataDir);
    const oneVersion = breakdown(dataDir);
    const target = { origin: server.url, headers: server.auth, nextPath: () => `/promotions/${randomId()}` };
    const idle = await openLoop(target, {
      rate: RATE,
      connections: 16,
      stop: () => false,
      maxRequests: RATE * 5,
    });

    let building = true;
    let peakMb = oneVersionMb;
    const sizer = setInterval(() => (peakMb = Math.max(peakMb, dirMb(dataDir))), 1000);
    // A checker reads records one after another: old or new, and never old again once new was seen.
    let sawNew = false;
    let mixes = 0;
    let checks = 0;
    const checker = (async () => {
      while (building) {
        const id = randomId();
        const res = await fetch(`${server.url}/promotions/${id}`, { headers: server.auth });
        const body = (await res.json()) as { price: number };
        const isNew = body.price === promotionPrice(id) + OFFSET;
        const isOld = body.price === promotionPrice(id);
        if ((!isNew && !isOld) || (sawNew && isOld)) mixes++;
        sawNew ||= isNew;
        checks++;
      }
    })();
    const started = performance.now();
    const second = await postUpload(server.url, server.auth, 'promotions', v2);
    const during = openLoop(target, { rate: RATE, connections: 16, stop: () => !building });
    const built = await waitUploadFinal(server.url, server.auth, second.report.id);
    const buildS = (performance.now() - started) / 1000;
    building = false;
    const duringLoad = await during;
    await checker;
    clearInterval(sizer);
    if (built.report.status !== 'done') throw new Error(`second snapshot ${built.report.status}`);
    const after = await fetch(`${server.url}/promotions/1`, { headers: server.auth });
    const afterBody = (await after.json()) as { price: number };
    // The old version's file is deleted right after the swap, on the build thread; give it a moment.
    await new Promise((r) => setTimeout(r, 2000));
    console.log(
      JSON.stringify({
        bench: 'replace-swap',
        rows: ROWS,
        build_s: round(buildS, 1),
        lookup_rate: RATE,
        idle_p50_ms: idle.p50_ms,
        idle_p99_ms: idle.p99_ms,
        during_build_p50_ms: duringLoad.p50_ms,
        during_build_p99_ms: duringLoad.p99_ms,
        during_build_max_ms: duringLoad.max_ms,
        during_build_errors: duringLoad.errors,
        target_p99_ms: 10,
        checks,
        mixes_seen: mixes,
        serves_new_after_swap: afterBody.price === promotionPrice(1) + OFFSET,
        disk_mb_one_version: oneVersionMb,
        disk_one_version_by_file: oneVersion,
        bytes_per_row_one_version: Math.round((oneVersionMb * 2 ** 20) / ROWS),
        disk_mb_peak: peakMb,
        disk_mb_after_swap: dirMb(dataDir),
      }),
    );
  } finally {
    await server.stop();
    tmp.remove();
  }
}

await main();

/**
 * Fair scheduling under a large upload: how long a small upload (1,000 rows) of one client takes from
 * POST until done, alone (the anchor, same run) and while another client's large upload (`--big-gb`,
 * default 2) is being processed. The large upload is generated while it is sent with tus, so it never
 * exists on disk, by a process of its own (bench/lib/big-tus-upload.ts): generating it here stalled this
 * process's polling by up to a second, which counted as the small upload's time.
 *
 * `during_big_answered_ms`, `during_big_queued_ms` and `during_big_processing_ms` split the small upload's
 * time into the POST until its 201, the wait for its turn (bytes durable until processing starts) and processing (decode, log, apply, statistics).
 *
 * Run: npm run bench -- fairness [--big-gb 2] [--tries 5]
 */
import fs from 'node:fs';
import path from 'node:path';
import { numberArg } from './lib/args.js';
import { percentile, round } from './lib/latency.js';
import { startSluice, type SluiceServer } from './lib/sluice-server.js';
import { benchTempDir } from './lib/temp-dir.js';
import { spawnTsx, type RunningChild } from './lib/child-process.js';
import { getUpload, waitUploadFinal } from './lib/upload-client.js';
import { readingsFile } from '../src/sim/readings-file.js';

const BIG_GB = numberArg('big-gb', 2);
const TRIES = numberArg('tries', 5);

/** A new writer key's secret. */
async function key(server: SluiceServer, name: string): Promise<string> {
  const res = await fetch(`${server.url}/v1/keys`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name, role: 'writer' }),
  });
  return ((await res.json()) as { key: string }).key;
}

/** Where a small upload's time went, from its report's timings (milliseconds). */
interface SmallRun {
  /** POST until the client saw it done. */
  total: number;
  /** POST until its 201: the body received and durable. */
  answered: number;
  /** Bytes durable until processing started: the wait for the scheduler's turn. */
  queued: number;
  /** Processing started until done: decode, log, apply, statistics. */
  processing: number;
}

/** POSTs a 1,000-row file and returns where the time went until it was done. */
async function smallUpload(server: SluiceServer, key: string, seed: number): Promise<SmallRun> {
  const body = [...readingsFile({ rows: 1000, seed, startMs: Date.now() - 86_400_000 })].join('');
  const started = performance.now();
  const res = await fetch(`${server.url}/v1/datasets/readings/uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'text/csv' },
    body,
  });
  const answered = performance.now() - started;
  if (res.status !== 201) throw new Error(`small upload answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const { report, doneAt } = await waitUploadFinal(server.url, server.auth, id, { everyMs: 20 });
  if (report.status !== 'done' || report.rows.valid !== 1000)
    throw new Error(`small upload ended ${JSON.stringify(report.rows)}`);
  const at = (name: string) => Date.parse(String(report.timings[name]));
  return {
    total: doneAt - started,
    answered,
    queued: at('started_at') - at('received_at'),
    processing: at('finished_at') - at('started_at'),
  };
}

/** p50 and max of one measure over the runs. */
function spread(runs: readonly SmallRun[], measure: keyof SmallRun): { p50: number; max: number } {
  const xs = runs.map((r) => r[measure]).sort((a, b) => a - b);
  return { p50: round(percentile(xs, 50), 0), max: round(Math.max(...xs), 0) };
}

/** The upload id the sender prints once its tus upload exists. */
async function uploadIdOf(sender: RunningChild): Promise<string> {
  for (;;) {
    const url = /^url (\S+)$/m.exec(sender.output())?.[1];
    if (url !== undefined) return url.split('/').pop()!;
    if (sender.child.exitCode !== null)
      throw new Error(`the large upload's sender ended: ${sender.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main(): Promise<void> {
  const tmp = benchTempDir();
  const dataDir = path.join(tmp.dir, 'data');
  fs.mkdirSync(dataDir);
  const server = await startSluice({ dataDir });
  try {
    const big = await key(server, 'big');
    const small = await key(server, 'small');
    const alone: SmallRun[] = [];
    for (let i = 0; i < TRIES; i++) alone.push(await smallUpload(server, small, i));

    const rows = Math.round((BIG_GB * 1e9) / 40);
    // The large upload comes from another process, so generating it does not stall this one's clock.
    const sender = spawnTsx('bench/lib/big-tus-upload.ts', [server.url, big, String(rows), '99']);
    const senderDone = new Promise<number | null>((resolve) => sender.child.once('exit', resolve));
    const bigId = await uploadIdOf(sender);
    // Measure once the large upload is being processed, spread over its run.
    while ((await getUpload(server.url, server.auth, bigId)).rows.total === 0)
      await new Promise((r) => setTimeout(r, 50));
    const during: SmallRun[] = [];
    for (let i = 0; i < TRIES; i++) {
      during.push(await smallUpload(server, small, 100 + i));
      await new Promise((r) => setTimeout(r, 1000));
    }
    const bigAtEnd = await getUpload(server.url, server.auth, bigId);
    const code = await senderDone;
    if (code !== 0) throw new Error(`the large upload's sender exited with ${code}: ${sender.output()}`);
    const { report } = await waitUploadFinal(server.url, server.auth, bigId);
    console.log(
      JSON.stringify({
        bench: 'fairness',
        big_gb: BIG_GB,
        big_rows: report.rows.total,
        big_still_processing_after_small: bigAtEnd.status !== 'done',
        small_alone_ms_p50: spread(alone, 'total').p50,
        small_alone_ms_max: spread(alone, 'total').max,
        small_during_big_ms_p50: spread(during, 'total').p50,
        small_during_big_ms_max: spread(during, 'total').max,
        during_big_answered_ms: spread(during, 'answered'),
        during_big_queued_ms: spread(during, 'queued'),
        during_big_processing_ms: spread(during, 'processing'),
        target_ms: 2000,
      }),
    );
  } finally {
    await server.stop();
    tmp.remove();
  }
}

await main();

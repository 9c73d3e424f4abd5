/**
 * Fair scheduling under a large upload: how long a small upload (1,000 rows) of one client takes from
 * POST until done, alone (the anchor, same run) and while another client's large upload (`--big-gb`,
 * default 2) is being processed. The large upload is generated while it is sent with tus, so it never
 * exists on disk.
 *
 * Run: npm run bench -- fairness [--big-gb 2] [--tries 5]
 */
import fs from 'node:fs';
import path from 'node:path';
import { numberArg } from './lib/args.js';
import { percentile, round } from './lib/latency.js';
import { startSluice, type SluiceServer } from './lib/sluice-server.js';
import { benchTempDir } from './lib/temp-dir.js';
import { tusStream } from './lib/tus-stream.js';
import { getUpload, waitUploadFinal } from './lib/upload-client.js';
import { readingsFile } from '../src/sim/readings-file.js';

const BIG_GB = numberArg('big-gb', 2);
const TRIES = numberArg('tries', 5);

async function key(server: SluiceServer, name: string): Promise<Record<string, string>> {
  const res = await fetch(`${server.url}/v1/keys`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name, role: 'writer' }),
  });
  const body = (await res.json()) as { key: string };
  return { authorization: `Bearer ${body.key}` };
}

/** POSTs a 1,000-row file and returns the milliseconds until it is done. */
async function smallUpload(
  server: SluiceServer,
  auth: Record<string, string>,
  seed: number,
): Promise<number> {
  const body = [...readingsFile({ rows: 1000, seed, startMs: Date.now() - 86_400_000 })].join('');
  const started = performance.now();
  const res = await fetch(`${server.url}/v1/datasets/readings/uploads`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'text/csv' },
    body,
  });
  if (res.status !== 201) throw new Error(`small upload answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const { report, doneAt } = await waitUploadFinal(server.url, server.auth, id, { everyMs: 20 });
  if (report.status !== 'done' || report.rows.valid !== 1000)
    throw new Error(`small upload ended ${JSON.stringify(report.rows)}`);
  return doneAt - started;
}

async function main(): Promise<void> {
  const tmp = benchTempDir();
  const dataDir = path.join(tmp.dir, 'data');
  fs.mkdirSync(dataDir);
  const server = await startSluice({ dataDir });
  try {
    const big = await key(server, 'big');
    const small = await key(server, 'small');
    const alone: number[] = [];
    for (let i = 0; i < TRIES; i++) alone.push(await smallUpload(server, small, i));

    const rows = Math.round((BIG_GB * 1e9) / 40);
    let bigId: string | null = null;
    const bigDone = tusStream({
      url: server.url,
      auth: big,
      dataset: 'readings',
      chunks: readingsFile({ rows, seed: 99, startMs: Date.now() - rows * 1000 }),
      onUrl: (u) => (bigId = u.split('/').pop()!),
    });
    // Measure once the large upload is being processed, spread over its run.
    while (bigId === null || (await getUpload(server.url, server.auth, bigId)).rows.total === 0)
      await new Promise((r) => setTimeout(r, 50));
    const during: number[] = [];
    for (let i = 0; i < TRIES; i++) {
      during.push(await smallUpload(server, small, 100 + i));
      await new Promise((r) => setTimeout(r, 1000));
    }
    const bigAtEnd = await getUpload(server.url, server.auth, bigId);
    await bigDone;
    const { report } = await waitUploadFinal(server.url, server.auth, bigId);
    console.log(
      JSON.stringify({
        bench: 'fairness',
        big_gb: BIG_GB,
        big_rows: report.rows.total,
        big_still_processing_after_small: bigAtEnd.status !== 'done',
        small_alone_ms_p50: round(
          percentile(
            [...alone].sort((a, b) => a - b),
            50,
          ),
          0,
        ),
        small_alone_ms_max: round(Math.max(...alone), 0),
        small_during_big_ms_p50: round(
          percentile(
            [...during].sort((a, b) => a - b),
            50,
          ),
          0,
        ),
        small_during_big_ms_max: round(Math.max(...during), 0),
        target_ms: 2000,
      }),
    );
  } finally {
    await server.stop();
    tmp.remove();
  }
}

await main();

import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { SingleBar, Presets } from 'cli-progress';
import { clientOptions, failOnProblem } from './client.js';

interface UploadOptions {
  dataset: string;
  url?: string;
  key?: string;
  idempotencyKey?: string;
  wait: boolean;
}

/**
 * `sluice upload <file> --dataset <name>`: streams the file with a progress bar (bytes, rate), then
 * follows the upload until it is processed and prints the report.
 */
export async function upload(file: string, opts: UploadOptions): Promise<void> {
  const { url, key } = clientOptions(opts);
  const size = fs.statSync(file).size;
  const format = /\.(ndjson|jsonl)$/i.test(file) ? 'application/x-ndjson' : 'text/csv';
  const bar = new SingleBar(
    { format: ' {bar} {percentage}% | {value}/{total} MB | {rate} MB/s | ETA {eta}s', hideCursor: true },
    Presets.shades_classic,
  );
  const started = Date.now();
  bar.start(round(size), 0, { rate: '0.0' });
  let sent = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _e, done) {
      sent += chunk.length;
      bar.update(round(sent), {
        rate: (sent / 1e6 / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(1),
      });
      done(null, chunk);
    },
  });
  const body = Readable.toWeb(
    fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(meter),
  ) as ReadableStream;
  const headers: Record<string, string> = {
    Authorization: `Bearer ${key}`,
    'Content-Type': format,
    'Content-Length': String(size),
    'Content-Disposition': `attachment; filename="${path.basename(file)}"`,
  };
  if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
  const res = await fetch(`${url}/v1/datasets/${encodeURIComponent(opts.dataset)}/uploads`, {
    method: 'POST',
    headers,
    body,
    duplex: 'half',
  } as RequestInit);
  bar.stop();
  await failOnProblem(res);
  let report = (await res.json()) as { id: string; status: string };
  process.stderr.write(`uploaded ${size} bytes as ${report.id}; processing…\n`);
  while (opts.wait && !['done', 'failed', 'cancelled'].includes(report.status)) {
    await new Promise((r) => setTimeout(r, 500));
    const r = await fetch(`${url}/v1/uploads/${report.id}`, { headers: { Authorization: `Bearer ${key}` } });
    await failOnProblem(r);
    report = (await r.json()) as typeof report;
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (report.status === 'failed') process.exitCode = 1;
}

function round(bytes: number): number {
  return Math.round((bytes / 1e6) * 10) / 10;
}

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { clientOptions, failOnProblem } from './client.js';
import { ByteProgress } from './progress.js';
import { isRetriableStatus, retryDelayMs } from './retry-after.js';
import { uploadResumable } from './upload-resumable.js';

interface UploadOptions {
  dataset: string;
  url?: string;
  key?: string;
  idempotencyKey?: string;
  wait: boolean;
  resume?: boolean;
  /** Files of at least this many bytes go through tus (resumable); smaller ones in one request. */
  tusThreshold: string;
  chunkSize: string;
}

/** Retries of a plain upload give up after this long without success. */
const PLAIN_PATIENCE_MS = 10 * 60_000;

/**
 * `sluice upload <file> --dataset <name>`: sends the file with a progress bar (bytes, rate, ETA), then
 * follows the upload until it is processed and prints the report. Large files go through tus and
 * survive disconnects and server restarts; `--resume` continues an earlier run's unfinished upload.
 */
export async function upload(file: string, opts: UploadOptions): Promise<void> {
  const { url, key } = clientOptions(opts);
  const size = fs.statSync(file).size;
  const resumable = opts.resume === true || size >= Number(opts.tusThreshold);
  const id = resumable
    ? await uploadResumable(file, {
        url,
        key,
        dataset: opts.dataset,
        resume: opts.resume === true,
        patienceMs: PLAIN_PATIENCE_MS,
        chunkBytes: Number(opts.chunkSize),
        progress: (at) => new ByteProgress(size, at),
      })
    : await uploadPlain(file, size, url, key, opts);
  process.stderr.write(`uploaded ${size} bytes as ${id}${opts.wait ? '; processing…' : ''}\n`);
  let report = { id, status: 'queued' } as { id: string; status: string };
  for (
    let first = true;
    first || (opts.wait && !['done', 'failed', 'cancelled'].includes(report.status));
    first = false
  ) {
    if (!first) await new Promise((r) => setTimeout(r, 500));
    const r = await fetch(`${url}/v1/uploads/${id}`, { headers: { Authorization: `Bearer ${key}` } });
    await failOnProblem(r);
    report = (await r.json()) as typeof report;
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (report.status === 'failed') process.exitCode = 1;
}

/** One request with the whole body; retried on load answers and lost connections (idempotently). */
async function uploadPlain(
  file: string,
  size: number,
  url: string,
  key: string,
  opts: UploadOptions,
): Promise<string> {
  const idempotencyKey = opts.idempotencyKey ?? randomUUID();
  const format = /\.(ndjson|jsonl)$/i.test(file) ? 'application/x-ndjson' : 'text/csv';
  const deadline = Date.now() + PLAIN_PATIENCE_MS;
  for (let attempt = 0; ; attempt++) {
    const bar = new ByteProgress(size);
    let sent = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _e, done) {
        sent += chunk.length;
        bar.update(sent);
        done(null, chunk);
      },
    });
    let res: Response | null = null;
    try {
      res = await fetch(`${url}/v1/datasets/${encodeURIComponent(opts.dataset)}/uploads`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${key}`,
          'Content-Type': format,
          'Content-Length': String(size),
          'Content-Disposition': `attachment; filename="${path.basename(file)}"`,
          'Idempotency-Key': idempotencyKey,
        },
        body: Readable.toWeb(
          fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(meter),
        ) as ReadableStream,
        duplex: 'half',
      } as RequestInit);
    } catch (err) {
      if (Date.now() > deadline) throw err;
    } finally {
      bar.stop();
    }
    if (res && (res.ok || !isRetriableStatus(res.status) || Date.now() > deadline)) {
      await failOnProblem(res);
      return ((await res.json()) as { id: string }).id;
    }
    const wait = retryDelayMs(attempt, res?.headers.get('retry-after'));
    await res?.body?.cancel();
    process.stderr.write(
      `${res ? `HTTP ${res.status}` : 'connection lost'}; retrying in ${(wait / 1000).toFixed(1)} s\n`,
    );
    await new Promise((r) => setTimeout(r, wait));
  }
}

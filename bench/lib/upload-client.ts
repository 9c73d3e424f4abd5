import fs from 'node:fs';
import { request } from 'undici';
import { spawnTsx } from './child-process.js';

export interface UploadReport {
  id: string;
  status: string;
  error: string | null;
  rows: { total: number; valid: number; invalid: number; duplicate: number };
  timings: Record<string, unknown>;
  [k: string]: unknown;
}

/** POSTs a file as a streamed `text/csv` body; returns the 201 report and when it arrived. */
export async function postUpload(
  baseUrl: string,
  auth: Record<string, string>,
  dataset: string,
  file: string,
): Promise<{ report: UploadReport; startedAt: number; answeredAt: number }> {
  const startedAt = performance.now();
  const res = await request(`${baseUrl}/v1/datasets/${dataset}/uploads`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'text/csv', 'content-length': String(fs.statSync(file).size) },
    body: fs.createReadStream(file, { highWaterMark: 1 << 20 }),
    // Large bodies take a while to become durable; undici's default 5-minute timeouts would cut them.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  const text = await res.body.text();
  const answeredAt = performance.now();
  if (res.statusCode !== 201) throw new Error(`upload answered ${res.statusCode}: ${text.slice(0, 500)}`);
  return { report: JSON.parse(text) as UploadReport, startedAt, answeredAt };
}

/**
 * `postUpload` from a child process (bench/lib/post-upload.ts), for benchmarks whose own client times
 * other requests meanwhile. `startedAt` is on this process's clock, taken before the child starts, so
 * it includes the child's start-up (a few hundred milliseconds).
 */
export async function postUploadApart(
  baseUrl: string,
  auth: { authorization: string },
  dataset: string,
  file: string,
): Promise<{ report: UploadReport; startedAt: number }> {
  const startedAt = performance.now();
  const child = spawnTsx('bench/lib/post-upload.ts', [baseUrl, auth.authorization, dataset, file]);
  let out = '';
  child.child.stdout!.on('data', (b: Buffer) => (out += b.toString('utf8')));
  // 'close', not 'exit': it comes once the child's stdout has been read to the end.
  const code = await new Promise<number | null>((resolve) => child.child.once('close', resolve));
  if (code !== 0) throw new Error(`post-upload exited with ${code}: ${child.output()}`);
  return { report: JSON.parse(out) as UploadReport, startedAt };
}

export async function getUpload(
  baseUrl: string,
  auth: Record<string, string>,
  id: string,
): Promise<UploadReport> {
  const res = await request(`${baseUrl}/v1/uploads/${id}`, { headers: auth });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET upload answered ${res.statusCode}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as UploadReport;
}

const FINAL = new Set(['done', 'failed', 'cancelled']);

/** Polls the upload every `everyMs` until it is final; returns the report and when that was seen. */
export async function waitUploadFinal(
  baseUrl: string,
  auth: Record<string, string>,
  id: string,
  opts: { everyMs?: number; timeoutMs?: number } = {},
): Promise<{ report: UploadReport; doneAt: number }> {
  const until = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
  for (;;) {
    const report = await getUpload(baseUrl, auth, id);
    if (FINAL.has(report.status)) return { report, doneAt: performance.now() };
    if (Date.now() > until) throw new Error(`upload ${id} still ${report.status} at timeout`);
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 100));
  }
}

export async function getJson(
  baseUrl: string,
  auth: Record<string, string>,
  pathAndQuery: string,
): Promise<unknown> {
  const res = await request(`${baseUrl}${pathAndQuery}`, { headers: auth });
  const text = await res.body.text();
  if (res.statusCode !== 200)
    throw new Error(`GET ${pathAndQuery} answered ${res.statusCode}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as unknown;
}

import fs from 'node:fs';
import { request } from 'undici';

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

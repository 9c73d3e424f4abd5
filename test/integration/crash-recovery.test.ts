import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newExpectation, readingsFile, type ReadingsFileExpectation } from '../../src/sim/readings-file.js';
import {
  GiveUp,
  killAllChildren,
  pollUntil,
  startServer,
  tempDataDir,
  waitForFinal,
  type ServerProcess,
} from '../helpers/server-process.js';

/**
 * The exactly-once guarantees, checked against a real `sluice serve` process cut with SIGKILL at
 * chosen points and started again on the same data dir.
 */

const READINGS_ROWS = 1_500_000;
/** How long a step may wait (generous: the machine is shared); tests get more, so steps report first. */
const LONG = 120_000;
const TEST_TIMEOUT = 180_000;

let work: string;
let readingsPath: string;
let expected: ReadingsFileExpectation;

beforeAll(() => {
  work = tempDataDir();
  readingsPath = path.join(work, 'readings.csv');
  expected = newExpectation();
  writeChunks(
    readingsPath,
    readingsFile({ rows: READINGS_ROWS, invalidShare: 0.01, seed: 20250101 }, expected),
  );
});

afterAll(async () => {
  await killAllChildren();
  fs.rmSync(work, { recursive: true, force: true });
});

function writeChunks(file: string, chunks: Iterable<string>): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (const c of chunks) fs.writeSync(fd, c);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes a generated readings file and returns its path and expectation. */
function expectedFile(
  file: string,
  opts: Parameters<typeof readingsFile>[0],
): { file: string; exp: ReadingsFileExpectation } {
  const exp = newExpectation();
  writeChunks(file, readingsFile(opts, exp));
  return { file, exp };
}

/** A fresh data dir under the work dir, so afterAll removes it. */
function dataDir(name: string): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  return dir;
}

/** POSTs a file as a streamed raw body; returns the status, headers and parsed answer. */
async function postFile(
  server: ServerProcess,
  dataset: string,
  file: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await server.fetch(`/v1/datasets/${dataset}/uploads`, {
    method: 'POST',
    headers: { 'content-type': 'text/csv', ...headers },
    body: Readable.toWeb(fs.createReadStream(file)) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  return { status: res.status, headers: res.headers, body: await res.json() };
}

async function created(server: ServerProcess, dataset: string, file: string, headers = {}): Promise<any> {
  const res = await postFile(server, dataset, file, headers);
  if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/**
 * Waits until the upload is processing and has at least `minRows` rows counted, then SIGKILLs the
 * server. Fails if the upload finishes first: the kill would then test nothing.
 */
async function killWhileProcessing(
  server: ServerProcess,
  id: string,
  minRows: number,
): Promise<{ killedAt: number; rowsAtKill: number }> {
  const seen = await pollUntil(
    async () => {
      const r = await server.json(`/v1/uploads/${id}`);
      if (r.status === 'done' || r.status === 'failed')
        throw new GiveUp(`upload reached ${r.status} before the kill point (${r.rows.total} rows)`);
      return r.status === 'processing' && r.rows.total >= Math.max(1, minRows) ? r : undefined;
    },
    {
      timeoutMs: LONG,
      intervalMs: 10,
      what: `upload ${id} to pass ${minRows} rows`,
      describe: server.output,
    },
  );
  const killedAt = Date.now();
  await server.kill('SIGKILL');
  expect(seen.rows.total).toBeLessThan(expected.rows);
  return { killedAt, rowsAtKill: seen.rows.total };
}

/** Every reject line from `GET /v1/uploads/{id}/rejects`, parsed as CSV. */
async function rejectLines(server: ServerProcess, id: string): Promise<Map<number, string>> {
  const res = await server.fetch(`/v1/uploads/${id}/rejects`);
  expect(res.status).toBe(200);
  const parser = Readable.fromWeb(res.body as any).pipe(parse({ columns: true, relax_column_count: false }));
  const lines = new Map<number, string>();
  for await (const rec of parser as AsyncIterable<{ line: string; reason: string }>) {
    const line = Number(rec.line);
    expect(lines.has(line), `line ${line} listed twice`).toBe(false);
    lines.set(line, rec.reason);
  }
  return lines;
}

/** The report, the stored data and the rejects equal exactly one copy of the generated file. */
async function expectExactlyOnce(server: ServerProcess, report: any): Promise<void> {
  expect(report.status, report.error ?? '').toBe('done');
  expect(report.rows).toEqual({
    total: expected.rows,
    valid: expected.valid,
    invalid: expected.invalid,
    duplicate: 0,
  });
  expect(report.rejects_by_reason).toEqual(expected.byReason);
  const stats = await server.json('/v1/datasets/readings/stats');
  expect(stats.fields.value.count).toBe(expected.valid);

  const got = await rejectLines(server, report.id);
  const wrong: string[] = [];
  for (const [line, reason] of expected.lines)
    if (got.get(line) !== reason) wrong.push(`line ${line}: want ${reason}, got ${got.get(line)}`);
  for (const [line, reason] of got)
    if (!expected.lines.has(line)) wrong.push(`line ${line}: unexpected ${reason}`);
  expect(wrong.slice(0, 10)).toEqual([]);
  expect(got.size).toBe(expected.invalid);
}

describe('crash recovery with a real server process', () => {
  it(
    'kill -9 during processing: the restarted server finishes the upload exactly once',
    async () => {
      const dir = dataDir('kill-once');
      const s1 = await startServer({ dataDir: dir });
      const up = await created(s1, 'readings', readingsPath);
      const { killedAt } = await killWhileProcessing(s1, up.id, expected.rows * 0.2);

      const s2 = await startServer({ dataDir: dir });
      const report = await waitForFinal(s2, up.id, LONG);
      // Proof that the kill fell mid-processing: the upload finished in the second process.
      expect(Date.parse(report.timings.finished_at)).toBeGreaterThan(killedAt);
      await expectExactlyOnce(s2, report);
      await s2.kill();
    },
    TEST_TIMEOUT,
  );

  it(
    'kill -9 twice, early then late: still exactly once',
    async () => {
      const dir = dataDir('kill-twice');
      const s1 = await startServer({ dataDir: dir });
      const up = await created(s1, 'readings', readingsPath);
      const first = await killWhileProcessing(s1, up.id, 1);

      const s2 = await startServer({ dataDir: dir });
      const second = await killWhileProcessing(s2, up.id, expected.rows * 0.7);
      expect(second.rowsAtKill).toBeGreaterThan(first.rowsAtKill);

      const s3 = await startServer({ dataDir: dir });
      const report = await waitForFinal(s3, up.id, LONG);
      expect(Date.parse(report.timings.finished_at)).toBeGreaterThan(second.killedAt);
      await expectExactlyOnce(s3, report);
      await s3.kill();
    },
    TEST_TIMEOUT,
  );

  it(
    'an Idempotency-Key retry after a crash returns the same upload, counted once',
    async () => {
      const dir = dataDir('idempotent');
      const s1 = await startServer({ dataDir: dir });
      const up = await created(s1, 'readings', readingsPath, { 'idempotency-key': 'crash-key-1' });
      await killWhileProcessing(s1, up.id, expected.rows * 0.3);

      const s2 = await startServer({ dataDir: dir });
      const retry = await postFile(s2, 'readings', readingsPath, { 'idempotency-key': 'crash-key-1' });
      expect(retry.status).toBe(201);
      expect(retry.body.id).toBe(up.id);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');

      const report = await waitForFinal(s2, up.id, LONG);
      await expectExactlyOnce(s2, report);
      const all = await s2.json('/v1/uploads?dataset=readings');
      expect(all.uploads.map((u: any) => u.id)).toEqual([up.id]);
      await s2.kill();
    },
    TEST_TIMEOUT,
  );

  it(
    'kill -9 while the body is arriving: the upload fails, nothing is stored, retries succeed',
    async () => {
      const dir = dataDir('kill-receive');
      const at = (iso: string) => Date.parse(iso);
      const seedRows = expectedFile(path.join(work, 'seed.csv'), {
        rows: 2000,
        seed: 3,
        startMs: at('2025-02-01T00:00:00Z'),
      });
      const cutRows = { rows: 50_000, seed: 4, startMs: at('2025-03-01T00:00:00Z') };
      const fresh = expectedFile(path.join(work, 'fresh.csv'), {
        rows: 30_000,
        seed: 5,
        startMs: at('2025-04-01T00:00:00Z'),
      });
      const cutFile = expectedFile(path.join(work, 'cut.csv'), cutRows);

      const s1 = await startServer({ dataDir: dir });
      const seed = await created(s1, 'readings', seedRows.file);
      expect((await waitForFinal(s1, seed.id)).status).toBe('done');
      const before = await s1.json('/v1/datasets/readings/stats');
      expect(before.fields.value.count).toBe(seedRows.exp.valid);

      // A body that sends its first rows, then stalls until the server is gone.
      const cut = slowUpload(s1, readingsFile({ ...cutRows, chunkRows: 1000 }), {
        'idempotency-key': 'cut-key',
      });
      const receiving = await pollUntil(
        async () => {
          const list = await s1.json('/v1/uploads?dataset=readings&status=receiving');
          return list.uploads[0];
        },
        { timeoutMs: LONG, what: 'an upload in receiving', describe: s1.output },
      );
      await pollUntil(async () => (cut.sent() > 3 ? true : undefined), {
        timeoutMs: LONG,
        what: 'bytes sent',
      });
      await s1.kill('SIGKILL');
      expect(await cut.result).toBeInstanceOf(Error);

      const s2 = await startServer({ dataDir: dir });
      const failed = await s2.json(`/v1/uploads/${receiving.id}`);
      expect(failed.status).toBe('failed');
      expect(failed.error).toMatch(/body/i);
      expect(failed.error).toMatch(/complete/i);
      expect(failed.bytes.complete).toBe(false);
      expect(failed.rows.total).toBe(0);
      expect(await s2.json('/v1/datasets/readings/stats')).toEqual(before);

      // A fresh POST works.
      const next = await created(s2, 'readings', fresh.file);
      expect(next.id).not.toBe(receiving.id);
      const nextDone = await waitForFinal(s2, next.id);
      expect(nextDone.status).toBe('done');
      expect(nextDone.rows).toEqual({
        total: fresh.exp.rows,
        valid: fresh.exp.valid,
        invalid: 0,
        duplicate: 0,
      });

      // Retrying the cut body with its Idempotency-Key reuses the failed upload and receives it whole.
      const retry = await postFile(s2, 'readings', cutFile.file, { 'idempotency-key': 'cut-key' });
      expect(retry.status).toBe(201);
      expect(retry.body.id).toBe(receiving.id);
      const retryDone = await waitForFinal(s2, receiving.id);
      expect(retryDone.status, retryDone.error ?? '').toBe('done');
      expect(retryDone.error).toBeNull();
      expect(retryDone.rows).toEqual({
        total: cutFile.exp.rows,
        valid: cutFile.exp.valid,
        invalid: 0,
        duplicate: 0,
      });
      const final = await s2.json('/v1/datasets/readings/stats');
      expect(final.fields.value.count).toBe(seedRows.exp.valid + fresh.exp.valid + cutFile.exp.valid);
      await s2.kill();
    },
    TEST_TIMEOUT,
  );

  it(
    'replace mode: v2 cut by kill -9 completes after restart; v1 serves until the swap',
    async () => {
      const dir = dataDir('replace');
      const v1File = path.join(work, 'promotions-v1.csv');
      const v2File = path.join(work, 'promotions-v2.csv');
      // v1 holds ids 0..299999; v2 holds 50000..349999 with other prices and dates.
      writeChunks(v1File, promotionsFile(0, 300_000, 1));
      writeChunks(v2File, promotionsFile(50_000, 300_000, 2));

      const s1 = await startServer({ dataDir: dir });
      const v1 = await created(s1, 'promotions', v1File);
      expect((await waitForFinal(s1, v1.id, LONG)).rows).toMatchObject({ total: 300_000, valid: 300_000 });

      const v2 = await created(s1, 'promotions', v2File);
      await pollUntil(
        async () => {
          const r = await s1.json(`/v1/uploads/${v2.id}`);
          if (r.status === 'done') throw new GiveUp('v2 finished before it could be observed mid-way');
          return r.status === 'processing' && r.rows.total > 0 ? r : undefined;
        },
        { timeoutMs: LONG, intervalMs: 10, what: 'v2 processing', describe: s1.output },
      );
      // While v2 is being built, readers see v1 only.
      for (const id of [0, 49_999, 60_000, 299_999])
        expect(await promotion(s1, id)).toEqual(promotionRow(id, 1));
      expect((await s1.fetch('/promotions/p-320000')).status).toBe(404);
      const seen = await s1.json(`/v1/uploads/${v2.id}`);
      expect(seen.status).toBe('processing');
      const killedAt = Date.now();
      await s1.kill('SIGKILL');

      const s2 = await startServer({ dataDir: dir });
      const report = await waitForFinal(s2, v2.id, LONG);
      expect(report.status, report.error ?? '').toBe('done');
      expect(Date.parse(report.timings.finished_at)).toBeGreaterThan(killedAt);
      expect(report.rows).toEqual({ total: 300_000, valid: 300_000, invalid: 0, duplicate: 0 });

      for (const id of [50_000, 123_457, 299_999, 300_000, 349_999])
        expect(await promotion(s2, id)).toEqual(promotionRow(id, 2));
      for (const id of [0, 1, 49_999]) {
        const res = await s2.fetch(`/promotions/p-${id}`);
        expect(res.status).toBe(404);
        expect(((await res.json()) as any).code).toBe('record_not_found');
      }
      const stats = await s2.json('/v1/datasets/promotions/stats');
      expect(stats.fields.price.count).toBe(300_000);
      await s2.kill();
    },
    TEST_TIMEOUT,
  );
});

/** Streams `chunks` as an upload body, stalling after the first few until the connection dies. */
function slowUpload(
  server: ServerProcess,
  chunks: Iterable<string>,
  headers: Record<string, string> = {},
): { sent(): number; result: Promise<Error | number> } {
  let sent = 0;
  const source = chunks[Symbol.iterator]();
  const body = new Readable({
    read() {
      // A few chunks, then nothing more: the server waits for the rest of the body.
      if (sent >= 4) return;
      const next = source.next();
      sent++;
      this.push(next.done ? null : next.value);
    },
  });
  const result = new Promise<Error | number>((resolve) => {
    const req = http.request(`${server.url}/v1/datasets/readings/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'text/csv', ...headers },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err) => resolve(err));
    body.pipe(req);
  });
  return { sent: () => sent, result };
}

/** Header-less `id,price,expiration_date` rows, dates in Go's `time.String()` form (CEST). */
function* promotionsFile(first: number, count: number, version: number): Generator<string> {
  let out = '';
  for (let i = first; i < first + count; i++) {
    const r = promotionRow(i, version);
    out += `${r.id},${r.price},${r.expiration_date}\n`;
    if (out.length > 1 << 20) {
      yield out;
      out = '';
    }
  }
  if (out) yield out;
}

function promotionRow(i: number, version: number): { id: string; price: number; expiration_date: string } {
  const price = version * 1000 + (i % 997) / 4;
  // Local CEST wall-clock time: UTC plus two hours.
  const local = new Date(Date.UTC(2018, 7, 4, 5, 32, 31) + (i % 5000) * 60_000 + version * 86_400_000);
  const text = local.toISOString().slice(0, 19).replace('T', ' ');
  return { id: `p-${i}`, price, expiration_date: `${text} +0200 CEST` };
}

async function promotion(server: ServerProcess, i: number): Promise<unknown> {
  return server.json(`/promotions/p-${i}`);
}

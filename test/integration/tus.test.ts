import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as tus from 'tus-js-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newExpectation, readingsFile, type ReadingsFileExpectation } from '../../src/sim/readings-file.js';
import { ADMIN, auth, startHarness, tempDir, waitForUpload, type Harness } from '../helpers/harness.js';

/** tus 1.0 at /v1/tus/, driven by the unmodified tus-js-client and by raw requests. */

let work: string;
let file: string;
let bytes: Buffer;
let expected: ReadingsFileExpectation;

beforeAll(() => {
  work = tempDir();
  file = path.join(work, 'readings.csv');
  expected = newExpectation();
  fs.writeFileSync(
    file,
    [...readingsFile({ rows: 120_000, invalidShare: 0.01, seed: 7 }, expected)].join(''),
  );
  bytes = fs.readFileSync(file);
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let h: Harness | undefined;
let base: string;

async function start(dataDir?: string): Promise<void> {
  h = await startHarness({ dataDir });
  base = await h.app.listen({ port: 0, host: '127.0.0.1' });
}

afterEach(async () => {
  await h?.close();
  h = undefined;
});

function tusUpload(
  opts: Partial<tus.UploadOptions> & { uploadUrl?: string },
  onProgress?: (sent: number, upload: tus.Upload) => void,
): { upload: tus.Upload; done: Promise<string> } {
  let upload!: tus.Upload;
  const done = new Promise<string>((resolve, reject) => {
    upload = new tus.Upload(bytes, {
      endpoint: `${base}/v1/tus/`,
      headers: { authorization: `Bearer ${ADMIN}` },
      metadata: { dataset: 'readings', filename: 'readings.csv' },
      chunkSize: 256 * 1024,
      retryDelays: [],
      onProgress: (sent) => onProgress?.(sent, upload),
      onSuccess: () => resolve(upload.url!),
      onError: reject,
      ...opts,
    });
  });
  upload.start();
  return { upload, done };
}

const idOf = (url: string): string => url.split('/').pop()!;

function expectExactReport(report: any): void {
  expect(report.status).toBe('done');
  expect(report.rows).toMatchObject({
    total: expected.rows,
    valid: expected.valid,
    invalid: expected.invalid,
  });
  expect(report.rejects_by_reason).toEqual(expected.byReason);
}

describe('tus uploads', () => {
  it('uploads with tus-js-client; the tus id is the upload id and the report is exact', async () => {
    await start();
    const url = await tusUpload({}).done;
    expect(url).toMatch(/\/v1\/tus\/up_[0-9a-z]+$/);
    expectExactReport(await waitForUpload(h!.app, idOf(url)));
  });

  it('resumes after the client aborts, from the offset HEAD reports', async () => {
    await start();
    let aborted = false;
    const first = tusUpload({}, (sent, upload) => {
      if (!aborted && sent > bytes.length / 3) {
        aborted = true;
        void upload.abort();
      }
    });
    const url = await new Promise<string>((resolve) => {
      const poll = setInterval(() => {
        if (aborted && first.upload.url) {
          clearInterval(poll);
          resolve(first.upload.url);
        }
      }, 10);
    });
    const head = await fetch(url, { method: 'HEAD', headers: { ...auth, 'tus-resumable': '1.0.0' } });
    const offset = Number(head.headers.get('upload-offset'));
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThan(bytes.length);
    const mid = await h!.app.inject({ url: `/v1/uploads/${idOf(url)}`, headers: auth });
    expect(mid.json().status).toBe('receiving');
    const resumed = await tusUpload({ uploadUrl: url }).done;
    expect(resumed).toBe(url);
    expectExactReport(await waitForUpload(h!.app, idOf(url)));
  });

  it('processes rows while the file is still arriving', async () => {
    await start();
    const create = await fetch(`${base}/v1/tus/`, {
      method: 'POST',
      headers: {
        ...auth,
        'tus-resumable': '1.0.0',
        'upload-length': String(bytes.length),
        'upload-metadata': `dataset ${Buffer.from('readings').toString('base64')}`,
      },
    });
    expect(create.status).toBe(201);
    const url = new URL(create.headers.get('location')!, base).href;
    const half = bytes.subarray(0, bytes.length >> 1);
    const patch = await fetch(url, {
      method: 'PATCH',
      headers: {
        ...auth,
        'tus-resumable': '1.0.0',
        'upload-offset': '0',
        'content-type': 'application/offset+octet-stream',
      },
      body: half,
    });
    expect(patch.status).toBe(204);
    let report: any;
    for (let i = 0; i < 400; i++) {
      report = (await h!.app.inject({ url: `/v1/uploads/${idOf(url)}`, headers: auth })).json();
      if (report.rows.valid > 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(report.status).toBe('receiving');
    expect(report.rows.valid).toBeGreaterThan(0);
    const rest = await fetch(url, {
      method: 'PATCH',
      headers: {
        ...auth,
        'tus-resumable': '1.0.0',
        'upload-offset': String(half.length),
        'content-type': 'application/offset+octet-stream',
      },
      body: bytes.subarray(half.length),
    });
    expect(rest.status).toBe(204);
    expectExactReport(await waitForUpload(h!.app, idOf(url)));
  });

  it('answers 460 to a checksum mismatch and discards the chunk; a good checksum is accepted', async () => {
    await start();
    const body = Buffer.from('device_id,timestamp,value\nd1,2025-01-01T00:00:00Z,1\n');
    const create = await fetch(`${base}/v1/tus/`, {
      method: 'POST',
      headers: {
        ...auth,
        'tus-resumable': '1.0.0',
        'upload-length': String(body.length),
        'upload-metadata': `dataset ${Buffer.from('readings').toString('base64')}`,
      },
    });
    const url = new URL(create.headers.get('location')!, base).href;
    const patch = (checksum: string) =>
      fetch(url, {
        method: 'PATCH',
        headers: {
          ...auth,
          'tus-resumable': '1.0.0',
          'upload-offset': '0',
          'upload-checksum': checksum,
          'content-type': 'application/offset+octet-stream',
        },
        body,
      });
    const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('base64');
    const bad = await patch(`sha1 ${sha1(Buffer.from('something else'))}`);
    expect(bad.status).toBe(460);
    const head = await fetch(url, { method: 'HEAD', headers: { ...auth, 'tus-resumable': '1.0.0' } });
    expect(head.headers.get('upload-offset')).toBe('0');
    expect((await patch('crc99 AAAA')).status).toBe(400);
    const good = await patch(`sha1 ${sha1(body)}`);
    expect(good.status).toBe(204);
    const report = await waitForUpload(h!.app, idOf(url));
    expect(report.rows).toMatchObject({ total: 1, valid: 1 });
    const options = await fetch(`${base}/v1/tus/`, { method: 'OPTIONS' });
    expect(options.headers.get('tus-extension')).toContain('checksum');
    expect(options.headers.get('tus-checksum-algorithm')).toContain('sha1');
  });

  it('terminates an upload with DELETE, and refuses unknown datasets and other keys', async () => {
    await start();
    const first = tusUpload({}, (sent, upload) => {
      if (sent > 0) void upload.abort();
    });
    void first.done.catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    const url = first.upload.url!;
    const del = await fetch(url, { method: 'DELETE', headers: { ...auth, 'tus-resumable': '1.0.0' } });
    expect(del.status).toBe(204);
    const report = (await h!.app.inject({ url: `/v1/uploads/${idOf(url)}`, headers: auth })).json();
    expect(report.status).toBe('cancelled');
    const head = await fetch(url, { method: 'HEAD', headers: { ...auth, 'tus-resumable': '1.0.0' } });
    expect([404, 410]).toContain(head.status);

    const unknown = await fetch(`${base}/v1/tus/`, {
      method: 'POST',
      headers: {
        ...auth,
        'tus-resumable': '1.0.0',
        'upload-length': '10',
        'upload-metadata': `dataset ${Buffer.from('nope').toString('base64')}`,
      },
    });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { code: string }).code).toBe('dataset_not_found');
    const noKey = await fetch(`${base}/v1/tus/`, { method: 'POST', headers: { 'tus-resumable': '1.0.0' } });
    expect(noKey.status).toBe(401);
  });
});

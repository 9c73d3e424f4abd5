import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DecodePool } from '../../src/ingest/decode-pool.js';
import { type Harness, auth, startHarness } from '../helpers/harness.js';

const ndjson = (rows: object[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('POST /v1/datasets/{name}/records', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      config: { writes: { max_body_bytes: 1024 * 1024, line_protocol: {} } as never },
    });
  });
  afterAll(async () => h.close());

  const post = (
    dataset: string,
    body: string | Buffer,
    type: string,
    extra: Record<string, string> = {},
    query = '',
  ) =>
    h.app.inject({
      method: 'POST',
      url: `/v1/datasets/${dataset}/records${query}`,
      headers: { ...auth, 'content-type': type, ...extra },
      payload: body,
    });

  it('takes NDJSON, validates like uploads and answers counts once applied', async () => {
    const now = Date.now();
    const res = await post(
      'readings',
      ndjson([
        { device_id: 'r1', timestamp: now - 3000, value: 1 },
        { device_id: 'r1', timestamp: now - 2000, value: 'x' },
        { device_id: '', timestamp: now - 2000, value: 2 },
        { device_id: 'r1', timestamp: now - 1000, value: 3 },
        { device_id: 'r1', timestamp: now - 3000, value: 1 },
      ]),
      'application/x-ndjson',
    );
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.applied).toBe(true);
    expect(body.rows).toEqual({ total: 5, valid: 2, invalid: 2, duplicate: 1 });
    expect(body.rejects_by_reason).toEqual({ not_a_number: 1, missing_key: 1 });
    expect(body.rejects.map((r: { position: number; reason: string }) => [r.position, r.reason])).toEqual([
      [2, 'not_a_number'],
      [3, 'missing_key'],
    ]);
    const stats = await h.app.inject({ url: '/v1/datasets/readings/stats?device_id=r1', headers: auth });
    expect(stats.json().fields.value).toMatchObject({ count: 2, min: 1, max: 3 });
  });

  it('decodes a large body on a decode thread with the same counts and positions', async () => {
    const now = Date.now();
    const rows: object[] = [];
    for (let i = 0; i < 6000; i++)
      rows.push({
        device_id: `big-${i % 7}`,
        timestamp: now - 10_000_000 + i,
        value: i % 5 === 0 && i > 0 ? 'x' : i,
      });
    rows.push(rows[1]!);
    const body = ndjson(rows);
    expect(body.length).toBeGreaterThan(256 * 1024);
    const threads = vi.spyOn(DecodePool.prototype, 'decode');
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/datasets/readings/records',
      headers: { ...auth, 'content-type': 'application/x-ndjson' },
      payload: body,
    });
    expect(res.statusCode).toBe(200);
    expect(threads).toHaveBeenCalledTimes(1);
    threads.mockRestore();
    const out = res.json();
    expect(out.rows).toEqual({ total: 6001, valid: 4801, invalid: 1199, duplicate: 1 });
    expect(out.rejects_by_reason).toEqual({ not_a_number: 1199 });
    expect(out.rejects).toHaveLength(100);
    expect(out.rejects[0]).toMatchObject({ position: 6, reason: 'not_a_number', column: 'value' });
    const stats = await h.app.inject({ url: '/v1/datasets/readings/stats?device_id=big-3', headers: auth });
    expect(stats.json().fields.value.count).toBe(
      rows.slice(0, 6000).filter((r, i) => i % 7 === 3 && !(i % 5 === 0 && i > 0)).length,
    );
  });

  it('takes a JSON array; positions are 1-based elements', async () => {
    const now = Date.now();
    const res = await post(
      'readings',
      JSON.stringify([
        { device_id: 'r2', timestamp: now, value: 5 },
        7,
        { device_id: 'r2', timestamp: 'no', value: 1 },
      ]),
      'application/json; charset=utf-8',
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().rows).toEqual({ total: 3, valid: 1, invalid: 2, duplicate: 0 });
    expect(res.json().rejects.map((r: { position: number }) => r.position)).toEqual([2, 3]);
  });

  it('with ?wait=false answers 202 once durable, and the rows are applied after', async () => {
    const res = await post(
      'readings',
      ndjson([{ device_id: 'r3', timestamp: Date.now(), value: 9 }]),
      'application/x-ndjson',
      {},
      '?wait=false',
    );
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ applied: false, rows: { total: 1, valid: 1, invalid: 0 } });
    await h.sluice.settle();
    const stats = await h.app.inject({ url: '/v1/datasets/readings/stats?device_id=r3', headers: auth });
    expect(stats.json().fields.value.count).toBe(1);
  });

  it('decodes gzip bodies', async () => {
    const res = await post(
      'readings',
      gzipSync(ndjson([{ device_id: 'r4', timestamp: Date.now(), value: 1 }])),
      'application/x-ndjson',
      { 'content-encoding': 'gzip' },
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().rows.valid).toBe(1);
  });

  it('refuses bad requests with stable codes', async () => {
    const replace = await post('promotions', ndjson([{ id: 'a', price: 1 }]), 'application/x-ndjson');
    expect(replace.statusCode).toBe(409);
    expect(replace.json().code).toBe('unsupported_for_mode');
    const big = await post('readings', 'x'.repeat(1024 * 1024 + 1), 'application/x-ndjson');
    expect(big.statusCode).toBe(413);
    expect(big.json().code).toBe('payload_too_large');
    const bomb = await post('readings', gzipSync(Buffer.alloc(2 * 1024 * 1024, 32)), 'application/x-ndjson', {
      'content-encoding': 'gzip',
    });
    expect(bomb.statusCode).toBe(413);
    const csv = await post('readings', 'a,b\n', 'text/csv');
    expect(csv.json().code).toBe('unsupported_media_type');
    const badJson = await post('readings', '[{', 'application/json');
    expect(badJson.json().code).toBe('bad_request');
    const empty = await post('readings', '', 'application/x-ndjson');
    expect(empty.json().code).toBe('empty_body');
    const unknown = await post('nope', '{}', 'application/x-ndjson');
    expect(unknown.json().code).toBe('dataset_not_found');
  });

  it('documents the write and bulk-read routes in the OpenAPI document', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const path of [
      '/v1/datasets/{name}/records',
      '/api/v2/write',
      '/write',
      '/query',
      '/ping',
      '/v1/query',
    ])
      expect(doc.paths[path], path).toBeDefined();
  });

  it('needs a writer key for the dataset', async () => {
    const key = await h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: auth,
      payload: { name: 'ro', role: 'reader' },
    });
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/datasets/readings/records',
      headers: { authorization: `Bearer ${key.json().key}`, 'content-type': 'application/x-ndjson' },
      payload: '{}\n',
    });
    expect(res.statusCode).toBe(403);
    const none = await h.app.inject({ method: 'POST', url: '/v1/datasets/readings/records', payload: '{}' });
    expect(none.statusCode).toBe(401);
  });
});

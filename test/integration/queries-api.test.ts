import { DuckDBInstance } from '@duckdb/node-api';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startHarness, tempDir, upload, waitForUpload, type Harness } from '../helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

/** A GET with the admin key. */
const get = (url: string) => h.app.inject({ method: 'GET', url, headers: auth });

/** Deterministic pseudo-random readings: a few devices, skewed values, shuffled times. */
function readingsCsv(rows: number, seed = 7): string {
  let s = seed;
  const rand = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const out = ['device_id,timestamp,value'];
  const t0 = Date.parse('2024-01-01T00:00:00Z');
  for (let i = 0; i < rows; i++) {
    const dev = `dev-${Math.floor(rand() * 5)}`;
    const t = new Date(t0 + Math.floor(rand() * 86_400_000)).toISOString();
    const v = (Math.exp(rand() * 4) * (rand() < 0.5 ? -1 : 1)).toFixed(3);
    out.push(`${dev},${t},${v}`);
  }
  return out.join('\n') + '\n';
}

describe('stats', () => {
  it('equal what DuckDB computes over the same rows', async () => {
    const csv = readingsCsv(20_000);
    const up = await upload(h.app, 'readings', csv);
    const report = await waitForUpload(h.app, up.id);
    expect(report.rows.valid + report.rows.duplicate).toBe(20_000);

    const file = path.join(tempDir(), 'r.csv');
    fs.writeFileSync(file, csv);
    const db = await (await DuckDBInstance.create(':memory:')).connect();
    const exact = (
      await db.runAndReadAll(
        `SELECT count(*)::DOUBLE n, min(value) mn, max(value) mx, avg(value) mean, stddev_pop(value) sd
         FROM (SELECT DISTINCT * FROM read_csv('${file}', header=true, columns={'device_id':'VARCHAR','timestamp':'TIMESTAMPTZ','value':'DOUBLE'}))
         WHERE device_id = 'dev-3'`,
      )
    ).getRowObjects()[0] as Record<string, number>;
    const sorted = (
      await db.runAndReadAll(
        `SELECT value FROM (SELECT DISTINCT * FROM read_csv('${file}', header=true, columns={'device_id':'VARCHAR','timestamp':'TIMESTAMPTZ','value':'DOUBLE'}))
         WHERE device_id = 'dev-3' ORDER BY value`,
      )
    )
      .getRowObjects()
      .map((r) => r.value as number);

    const res = await get('/v1/datasets/readings/stats?device_id=dev-3');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.key).toEqual({ device_id: 'dev-3' });
    const v = body.fields.value;
    expect(v.count).toBe(exact.n);
    expect(v.min).toBe(exact.mn);
    expect(v.max).toBe(exact.mx);
    expect(v.mean).toBeCloseTo(exact.mean, 9);
    expect(v.stddev).toBeCloseTo(exact.sd, 9);
    const n = sorted.length;
    for (const [p, got] of [
      [0.5, v.p50],
      [0.95, v.p95],
      [0.99, v.p99],
    ] as const) {
      const lo = sorted[Math.max(0, Math.floor((p - 0.01) * (n - 1)))]!;
      const hi = sorted[Math.min(n - 1, Math.ceil((p + 0.01) * (n - 1)))]!;
      expect(got).toBeGreaterThanOrEqual(lo);
      expect(got).toBeLessThanOrEqual(hi);
    }
    expect(v.first.time).toMatch(/^2024-01-01T/);

    const all = await h.app.inject({ method: 'GET', url: '/v1/datasets/readings/stats', headers: auth });
    expect(all.json().key).toBeNull();
    expect(all.json().fields.value.count).toBeGreaterThanOrEqual(exact.n);

    const unknown = await get('/v1/datasets/readings/stats?device_id=ghost');
    expect(unknown.statusCode).toBe(404);
    const typo = await get('/v1/datasets/readings/stats?devise_id=dev-3');
    expect(typo.statusCode).toBe(400);
    expect(typo.json().code).toBe('bad_query');
  });

  it('series buckets and latest record', async () => {
    const csv = [
      'device_id,timestamp,value',
      's-1,2024-05-01T00:00:10Z,1',
      's-1,2024-05-01T00:00:50Z,3',
      's-1,2024-05-01T00:01:10Z,10',
      's-2,2024-05-01T00:00:10Z,100',
    ].join('\n');
    await waitForUpload(h.app, (await upload(h.app, 'readings', csv)).id);
    const res = await get(
      '/v1/datasets/readings/series?device_id=s-1&step=1m&agg=mean&from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z',
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().series).toEqual([
      {
        key: { device_id: 's-1' },
        points: [
          { time: '2024-05-01T00:00:00.000Z', value: 2 },
          { time: '2024-05-01T00:01:00.000Z', value: 10 },
        ],
      },
    ]);
    const latest = await get('/v1/datasets/readings/records/s-1');
    expect(latest.json().record).toEqual({
      device_id: 's-1',
      timestamp: '2024-05-01T00:01:10.000Z',
      value: 10,
    });
    const backwards = await get(
      '/v1/datasets/readings/series?device_id=s-1&from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z',
    );
    expect(backwards.statusCode).toBe(400);
    expect(backwards.json().code).toBe('bad_query');
    expect(backwards.json().detail).toMatch(/'to' .* must be after 'from'/);
  });
});

describe('replace mode: promotions', () => {
  it('serves a header-less snapshot with Go times and swaps versions atomically', async () => {
    const v1 = [
      '1,12.50,2018-08-04 05:32:31 +0200 CEST',
      '2,3.99,2018-09-01 00:00:00 +0000 UTC',
      '3,bad,2018-09-01 00:00:00 +0000 UTC',
    ];
    const r1 = await waitForUpload(h.app, (await upload(h.app, 'promotions', v1.join('\n'))).id);
    expect(r1.rows).toMatchObject({ total: 3, valid: 2, invalid: 1 });
    const one = await h.app.inject({ method: 'GET', url: '/promotions/1', headers: auth });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toEqual({ id: '1', price: 12.5, expiration_date: '2018-08-04 05:32:31 +0200 CEST' });
    expect((await h.app.inject({ method: 'GET', url: '/promotions/3', headers: auth })).statusCode).toBe(404);

    const v2 = ['2,4.99,2019-01-01 00:00:00 +0000 UTC', '4,1.00,2019-01-01 00:00:00 +0000 UTC'];
    await waitForUpload(h.app, (await upload(h.app, 'promotions', v2.join('\n'))).id);
    expect((await h.app.inject({ method: 'GET', url: '/promotions/1', headers: auth })).statusCode).toBe(404);
    expect((await h.app.inject({ method: 'GET', url: '/promotions/2', headers: auth })).json().price).toBe(
      4.99,
    );
    const stats = await h.app.inject({ method: 'GET', url: '/v1/datasets/promotions/stats', headers: auth });
    expect(stats.json().fields.price.count).toBe(2);
    const rec = await get('/v1/datasets/promotions/records/4');
    expect(rec.json().record).toEqual({
      id: '4',
      price: 1,
      expiration_date: '2019-01-01 00:00:00 +0000 UTC',
    });
  });
});

describe('datasets and keys', () => {
  it('creates a dataset through the API that survives a restart', async () => {
    const dir = tempDir();
    let h2 = await startHarness({ dataDir: dir });
    const spec = {
      name: 'temps',
      format: 'csv',
      csv: { header: 'true' },
      columns: [
        { name: 'sensor', type: 'string', role: 'key', required: true },
        { name: 'ts', type: 'time', role: 'time', required: true },
        { name: 'celsius', type: 'number', role: 'field', required: true, min: -80, max: 80 },
      ],
      dedup: 'content',
    };
    const created = await h2.app.inject({
      method: 'POST',
      url: '/v1/datasets',
      headers: auth,
      payload: spec,
    });
    expect(created.statusCode).toBe(201);
    const dup = await h2.app.inject({ method: 'POST', url: '/v1/datasets', headers: auth, payload: spec });
    expect(dup.json().code).toBe('dataset_exists');
    const bad = await h2.app.inject({
      method: 'POST',
      url: '/v1/datasets',
      headers: auth,
      payload: { name: 'x', columns: [{ name: 'a', role: 'field', type: 'string' }] },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('validation_failed');
    const up = await upload(
      h2.app,
      'temps',
      'sensor,ts,celsius\na,2024-01-01T00:00:00Z,20\na,2024-01-01T00:01:00Z,99\n',
    );
    expect((await waitForUpload(h2.app, up.id)).rejects_by_reason).toEqual({ out_of_range: 1 });
    await h2.close();

    h2 = await startHarness({ dataDir: dir });
    const got = await h2.app.inject({ method: 'GET', url: '/v1/datasets/temps', headers: auth });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ name: 'temps', origin: 'api' });
    const stats = await h2.app.inject({
      method: 'GET',
      url: '/v1/datasets/temps/stats?sensor=a',
      headers: auth,
    });
    expect(stats.json().fields.celsius.count).toBe(1);
    expect(
      (await h2.app.inject({ method: 'DELETE', url: '/v1/datasets/readings', headers: auth })).json().code,
    ).toBe('dataset_in_config');
    expect(
      (await h2.app.inject({ method: 'DELETE', url: '/v1/datasets/temps', headers: auth })).statusCode,
    ).toBe(204);
    expect(
      (await h2.app.inject({ method: 'GET', url: '/v1/datasets/temps', headers: auth })).statusCode,
    ).toBe(404);
    await h2.close();
  });

  it('shows a key secret once, scopes keys to datasets, and revokes them', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: auth,
      payload: { name: 'fleet-reader', role: 'reader', datasets: ['readings'] },
    });
    expect(res.statusCode).toBe(201);
    const { id, key } = res.json();
    expect(key).toMatch(/^sk_/);
    const list = (await h.app.inject({ method: 'GET', url: '/v1/keys', headers: auth })).json().keys;
    expect(JSON.stringify(list)).not.toContain(key);
    const scoped = { authorization: `Bearer ${key}` };
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/datasets/readings/stats', headers: scoped })).statusCode,
    ).toBe(200);
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/datasets/promotions/stats', headers: scoped }))
        .statusCode,
    ).toBe(403);
    expect((await h.app.inject({ method: 'GET', url: '/v1/keys', headers: scoped })).statusCode).toBe(403);
    expect((await h.app.inject({ method: 'DELETE', url: `/v1/keys/${id}`, headers: auth })).statusCode).toBe(
      204,
    );
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/datasets/readings/stats', headers: scoped })).statusCode,
    ).toBe(401);
  });

  it('serves health, readiness, metrics and the OpenAPI document without a key', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('sluice_ingested_rows_total');
    expect(metrics.body).toContain('sluice_rejected_rows_total');
    expect(metrics.body).toContain('sluice_http_request_duration_seconds');
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.paths['/v1/datasets/{name}/uploads']).toBeDefined();
    const ui = await h.app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/text\/html/);
  });
});

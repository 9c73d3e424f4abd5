import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { auth, startHarness, upload, waitForUpload, type Harness } from '../helpers/harness.js';
import {
  dailyFigures,
  expectedTopK,
  figuresBy,
  quantileOf,
  requestRows,
  requestsCsv,
  type RequestRow,
} from '../helpers/requests-data.js';

/**
 * The request-analytics facade and the v1 top-K, history and aggregation endpoints, on rows written
 * through an upload; every figure is checked against values computed here from the raw rows.
 */
const DAY_MS = 86_400_000;
const START_MS = (Math.floor(Date.now() / DAY_MS) - 3) * DAY_MS;
let h: Harness;
let rows: RequestRow[];

async function get(url: string): Promise<any> {
  const res = await h.app.inject({ method: 'GET', url, headers: auth });
  if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}: ${res.body}`);
  return res.json();
}

async function problem(method: 'GET' | 'POST', url: string, payload?: unknown): Promise<any> {
  const res = await h.app.inject({ method, url, headers: auth, payload: payload as object });
  expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
  expect(res.headers['content-type']).toContain('application/problem+json');
  return { status: res.statusCode, ...res.json() };
}

beforeAll(async () => {
  h = await startHarness();
  // 3 days of requests, plus a few on the day after, 6,300 rows in all.
  rows = requestRows(6300, START_MS + 7 * 60_000 + 1234, 3 * DAY_MS + 5 * 3_600_000, 42);
  const up = await upload(h.app, 'requests', requestsCsv(rows));
  const report = await waitForUpload(h.app, up.id);
  expect(report.rows.valid).toBe(rows.length);
  await h.sluice.settle();
}, 60_000);

afterAll(async () => {
  await h.close();
});

describe('GET /api/v1/requests/top-k', () => {
  it('ranks endpoints by frequency, exactly', async () => {
    const body = await get('/api/v1/requests/top-k?k=5&metric=frequency');
    const want = expectedTopK(figuresBy(rows), 'count', 5);
    expect(body).toEqual({
      status: 'success',
      data: want.map((w) => ({ request_id: w.key, metric_value: w.value })),
    });
  });

  it('ranks endpoints by mean latency', async () => {
    const body = await get('/api/v1/requests/top-k?k=3&metric=latency');
    const want = expectedTopK(figuresBy(rows), 'mean', 3);
    expect(body.data.map((d: any) => d.request_id)).toEqual(want.map((w) => w.key));
    body.data.forEach((d: any, i: number) => expect(d.metric_value).toBeCloseTo(want[i]!.value, 9));
  });

  it('groups by another key column on request', async () => {
    const body = await get('/api/v1/requests/top-k?k=4&metric=frequency&group=user_id');
    const want = expectedTopK(figuresBy(rows, 'user'), 'count', 4);
    expect(body.data).toEqual(want.map((w) => ({ request_id: w.key, metric_value: w.value })));
  });
});

describe('GET /v1/datasets/requests/topk', () => {
  it('answers max exactly over a window that is not aligned to anything', async () => {
    const from = START_MS + 13 * 3_600_000 + 5 * 60_000;
    const to = START_MS + DAY_MS + 20 * 3_600_000 + 41 * 60_000;
    const body = await get(
      `/v1/datasets/requests/topk?k=10&by=max&field=latency_ms&group=endpoint&from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`,
    );
    const want = expectedTopK(figuresBy(rows, 'endpoint', from, to), 'max', 10);
    expect(body.exact).toBe(true);
    expect(body.items.map((i: any) => [i.group, i.value])).toEqual(want.map((w) => [w.key, w.value]));
    expect(body.from).toBe(new Date(from).toISOString());
  });

  it('reads p95 from merged sketches and says it is approximate', async () => {
    const body = await get('/v1/datasets/requests/topk?k=7&by=p95&group=endpoint');
    const figures = figuresBy(rows);
    expect(body.exact).toBe(false);
    expect(body.items).toHaveLength(figures.size);
    for (const item of body.items) {
      const values = figures.get(item.group)!.values;
      // Within the values at ranks 93% and 97%: the sketch's rank error is well under 2%.
      expect(item.value).toBeGreaterThanOrEqual(quantileOf(values, 0.93));
      expect(item.value).toBeLessThanOrEqual(quantileOf(values, 0.97));
    }
  });

  it('filters by key values and rejects bad parameters with bad_query', async () => {
    const body = await get('/v1/datasets/requests/topk?k=3&by=count&group=endpoint&status_code=500');
    const want = expectedTopK(figuresBy(rows.filter((r) => r.status === '500')), 'count', 3);
    expect(body.items.map((i: any) => [i.group, i.value])).toEqual(want.map((w) => [w.key, w.value]));
    for (const url of [
      '/v1/datasets/requests/topk?by=median',
      '/v1/datasets/requests/topk?group=latency_ms',
      '/v1/datasets/requests/topk?by=mean&field=nope',
      '/v1/datasets/requests/topk?from=2026-01-02&to=2026-01-01',
      '/v1/datasets/requests/topk?k=0',
    ])
      expect((await problem('GET', url)).code, url).toBe('bad_query');
    expect((await problem('GET', '/v1/datasets/promotions/topk')).code).toBe('unsupported_for_mode');
  });
});

describe('history', () => {
  it('GET /api/v1/requests/history gives daily totals and average latency, zero days included', async () => {
    const first = new Date(START_MS - DAY_MS).toISOString().slice(0, 10);
    const last = new Date(START_MS + 4 * DAY_MS).toISOString().slice(0, 10);
    const body = await get(`/api/v1/requests/history?start_date=${first}&end_date=${last}`);
    const want = dailyFigures(rows);
    expect(body.status).toBe('success');
    expect(body.data).toHaveLength(6);
    expect(body.data[0]).toEqual({ date: first, total_requests: 0, average_latency: null });
    for (const d of body.data.slice(1)) {
      const w = want.get(d.date);
      expect(d.total_requests).toBe(w?.total ?? 0);
      if (w) expect(d.average_latency).toBeCloseTo(w.average, 9);
    }
    expect(body.data.reduce((n: number, d: any) => n + d.total_requests, 0)).toBe(rows.length);
  });

  it('GET /v1/datasets/requests/history lists days with data', async () => {
    const body = await get('/v1/datasets/requests/history');
    const want = dailyFigures(rows);
    expect(body.days.map((d: any) => [d.date, d.total])).toEqual(
      [...want.entries()].sort().map(([d, w]) => [d, w.total]),
    );
  });
});

describe('aggregations', () => {
  it('POST /api/v1/requests/aggregate submits, and the GET returns the figures', async () => {
    const from = START_MS + DAY_MS;
    const to = START_MS + 2 * DAY_MS;
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/v1/requests/aggregate',
      headers: auth,
      payload: {
        start_time: new Date(from).toISOString(),
        end_time: new Date(to).toISOString(),
        metrics: ['total_requests', 'average_latency', 'max_latency'],
      },
    });
    expect(res.statusCode).toBe(200);
    const sub = res.json();
    expect(sub).toMatchObject({ status: 'success', message: 'Aggregation request submitted.' });
    const got = await get(`/api/v1/requests/aggregate/${sub.aggregation_id}`);
    expect(got.state).toBe('done');
    const inDay = rows.filter((r) => r.timeMs >= from && r.timeMs < to);
    const values = got.data.rows[0].values;
    expect(values.total_requests).toBe(inDay.length);
    expect(values.average_latency).toBeCloseTo(inDay.reduce((a, r) => a + r.latency, 0) / inDay.length, 9);
    expect(values.max_latency).toBe(Math.max(...inDay.map((r) => r.latency)));
  });

  it('POST /v1/aggregations runs a long window in the background, grouped and stepped', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/aggregations',
      headers: auth,
      payload: {
        dataset: 'requests',
        from: new Date(START_MS).toISOString(),
        to: new Date(START_MS + 4 * DAY_MS).toISOString(),
        metrics: ['count', 'mean(latency_ms)'],
        group_by: ['status_code'],
        step: '1d',
      },
    });
    expect(res.statusCode, res.body).toBe(202);
    let job = res.json();
    expect(res.headers.location).toBe(`/v1/aggregations/${job.id}`);
    for (let i = 0; i < 200 && job.status !== 'done'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      job = await get(`/v1/aggregations/${job.id}`);
    }
    expect(job.status).toBe('done');
    const want = new Map<string, number>();
    for (const r of rows) {
      const key = `${new Date(r.timeMs).toISOString().slice(0, 10)}T00:00:00.000Z ${r.status}`;
      want.set(key, (want.get(key) ?? 0) + 1);
    }
    const got = new Map<string, number>(
      job.result.rows.map((r: any) => [`${r.time} ${r.group.status_code}`, r.values.count]),
    );
    expect(got).toEqual(want);
  });

  it('explains bad requests', async () => {
    const base = { dataset: 'requests', from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' };
    const cases: [unknown, string][] = [
      [{ ...base, metrics: ['median(latency_ms)'] }, 'median'],
      [{ ...base, metrics: ['mean(nope)'] }, 'nope'],
      [{ ...base, metrics: ['mean'] }, 'needs a field'],
      [{ ...base, metrics: ['count'], group_by: ['latency_ms'] }, 'group_by'],
      [{ ...base, metrics: ['count'], step: '30s' }, 'step'],
      [{ ...base, to: '2025-12-31T00:00:00Z', metrics: ['count'] }, 'after'],
      [{ ...base, from: 'yesterday', metrics: ['count'] }, 'from'],
    ];
    for (const [payload, says] of cases) {
      const p = await problem('POST', '/v1/aggregations', payload);
      expect(p.code, JSON.stringify(payload)).toBe('bad_query');
      expect(p.detail).toContain(says);
    }
    expect((await problem('POST', '/v1/aggregations', { ...base, metrics: [] })).code).toBe(
      'validation_failed',
    );
    expect((await problem('GET', '/v1/aggregations/agg_nothing')).code).toBe('job_not_found');
  });
});

describe('identical top-K requests at once', () => {
  it('share store queries, and every answer counts the rows written before it was asked', async () => {
    const url = '/v1/datasets/requests/topk?k=3&by=count&group=endpoint';
    const reads = vi.spyOn(h.sluice.series, 'readRollups');
    try {
      const burst = () => Promise.all(Array.from({ length: 20 }, () => get(url)));
      const first = await burst();
      for (const a of first) expect(a).toEqual(first[0]);
      // One query ran, and the requests that came while it ran shared one more.
      expect(reads.mock.calls.length).toBeLessThanOrEqual(2);

      const more = requestRows(600, START_MS + 60_000, 3_600_000, 7);
      const up = await upload(h.app, 'requests', requestsCsv(more));
      expect((await waitForUpload(h.app, up.id)).rows.valid).toBe(more.length);
      const want = expectedTopK(figuresBy([...rows, ...more]), 'count', 3);
      for (const a of await burst())
        expect(a.items.map((i: any) => [i.group, i.value])).toEqual(want.map((w) => [w.key, w.value]));
    } finally {
      reads.mockRestore();
    }
  });
});

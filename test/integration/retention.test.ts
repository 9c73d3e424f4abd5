import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startHarness, upload, waitForUpload, type Harness } from '../helpers/harness.js';
import { dailyFigures, expectedTopK, figuresBy, requestRows, requestsCsv } from '../helpers/requests-data.js';

/**
 * Retention drops raw day partitions past `retention.raw` (30 days for `requests`), and the rollups
 * keep answering history and top-K for the dropped days.
 */
const DAY_MS = 86_400_000;
const TODAY = Math.floor(Date.now() / DAY_MS) * DAY_MS;
const OLD_START = TODAY - 45 * DAY_MS;
const oldRows = requestRows(3000, OLD_START + 60_000, 3 * DAY_MS, 7);
const newRows = requestRows(1000, TODAY - DAY_MS, DAY_MS, 8);
let h: Harness;

async function get(url: string): Promise<any> {
  const res = await h.app.inject({ method: 'GET', url, headers: auth });
  if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}: ${res.body}`);
  return res.json();
}

const iso = (ms: number): string => new Date(ms).toISOString();

beforeAll(async () => {
  h = await startHarness();
  const up = await upload(h.app, 'requests', requestsCsv([...oldRows, ...newRows]));
  expect((await waitForUpload(h.app, up.id)).rows.valid).toBe(4000);
  await h.sluice.settle();
}, 60_000);

afterAll(async () => {
  await h.close();
});

describe('retention', () => {
  it('drops the raw partitions past the window, whole, and reports it in metrics', async () => {
    const oldWindow = `from=${iso(OLD_START)}&to=${iso(OLD_START + 4 * DAY_MS)}`;
    const before = await get(`/v1/datasets/requests/series?${oldWindow}&step=1d&agg=count&limit=100000`);
    const countOf = (s: any): number =>
      s.series.reduce(
        (n: number, x: any) => n + x.points.reduce((m: number, p: any) => m + p.latency_ms, 0),
        0,
      );
    expect(countOf(before)).toBe(3000);

    const runs = await h.sluice.retention.run();
    const run = runs.find((r) => r.dataset === 'requests')!;
    // 3,000 rows over three UTC days: three day partitions.
    expect(run).toMatchObject({ partitionsDropped: 3, rowsDropped: 3000, rollupRowsDropped: 0 });

    const after = await get(`/v1/datasets/requests/series?${oldWindow}&step=1d&agg=count&limit=100000`);
    expect(after.series).toEqual([]);
    const recent = await get(`/v1/datasets/requests/series?from=${iso(TODAY - DAY_MS)}&step=1d&agg=count`);
    expect(countOf(recent)).toBe(1000);

    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics', headers: auth })).body;
    expect(metrics).toMatch(/sluice_retention_partitions_dropped_total\{dataset="requests"\} 3/);
    expect(metrics).toMatch(/sluice_retention_rows_dropped_total\{dataset="requests",kind="raw"\} 3000/);
    expect(metrics).toMatch(/sluice_retention_last_run_timestamp_seconds \d/);
  });

  it('keeps answering history and top-K for the dropped days from rollups', async () => {
    const history = await get(
      `/api/v1/requests/history?start_date=${iso(OLD_START).slice(0, 10)}&end_date=${iso(OLD_START + 2 * DAY_MS).slice(0, 10)}`,
    );
    const want = dailyFigures(oldRows);
    expect(history.data.map((d: any) => [d.date, d.total_requests])).toEqual(
      [...want.entries()].sort().map(([d, w]) => [d, w.total]),
    );
    for (const d of history.data) expect(d.average_latency).toBeCloseTo(want.get(d.date)!.average, 9);

    const top = await get(
      `/api/v1/requests/top-k?k=3&metric=frequency&start_time=${iso(OLD_START)}&end_time=${iso(OLD_START + 4 * DAY_MS)}`,
    );
    expect(top.data).toEqual(
      expectedTopK(figuresBy(oldRows), 'count', 3).map((w) => ({ request_id: w.key, metric_value: w.value })),
    );
  });

  it('keeps counting the dropped rows in statistics, also after a restart and after a crash', async () => {
    const stats = async () => (await get('/v1/datasets/requests/stats')).fields.latency_ms;
    const before = await stats();
    expect(before.count).toBe(4000);
    const dataDir = h.dataDir;
    await h.close();
    h = await startHarness({ dataDir });
    expect(await stats()).toEqual(before);
    // Rows applied after the last checkpoint are read back from the store.
    const up = await upload(
      h.app,
      'requests',
      requestsCsv(requestRows(500, TODAY - DAY_MS / 2, DAY_MS / 4, 9)),
    );
    expect((await waitForUpload(h.app, up.id)).rows.valid).toBe(500);
    const grown = await stats();
    expect(grown.count).toBe(4500);
    // Not a clean stop: the checkpoint on disk predates the last upload.
    await h.app.close();
    h.sluice.applier.stopCheckpoints();
    await h.sluice.series.close();
    await h.sluice.meta.close();
    h = await startHarness({ dataDir });
    expect(await stats()).toEqual(grown);
  });
});

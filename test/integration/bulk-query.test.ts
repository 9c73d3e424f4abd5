import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Harness, auth, startHarness, upload, waitForUpload } from '../helpers/harness.js';

/** Bulk reads answer many keys with one store query; the answers equal the single-key ones. */
describe('bulk reads', () => {
  let h: Harness;
  const T0 = Date.UTC(2024, 0, 1);
  const cars = Array.from({ length: 40 }, (_, i) => ({ id: `car-${i}`, shop: i % 4 === 0 ? '123' : '999' }));

  beforeAll(async () => {
    h = await startHarness();
    const lines = ['device_id,timestamp,value'];
    for (const c of cars)
      for (let m = 0; m < 30; m++)
        lines.push(
          `${c.id},${new Date(T0 + m * 600_000).toISOString()},${(m * 7 + Number(c.id.slice(4))) % 50}`,
        );
    await waitForUpload(h.app, (await upload(h.app, 'readings', lines.join('\n') + '\n')).id);
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/datasets',
      headers: auth,
      payload: {
        name: 'cars',
        mode: 'replace',
        format: 'csv',
        csv: { header: true },
        dedup: 'key',
        columns: [
          { name: 'id', type: 'string', role: 'key', required: true },
          { name: 'vin', type: 'string', role: 'attribute' },
          { name: 'shop_id', type: 'string', role: 'attribute' },
        ],
      },
    });
    expect(created.statusCode).toBe(201);
    const csv = ['id,vin,shop_id', ...cars.map((c, i) => `${c.id},VIN${i},${c.shop}`)].join('\n') + '\n';
    await waitForUpload(h.app, (await upload(h.app, 'cars', csv)).id);
  });
  afterAll(async () => h.close());

  const get = async (url: string) => (await h.app.inject({ url, headers: auth })).json();
  const query = (payload: object) =>
    h.app.inject({ method: 'POST', url: '/v1/query', headers: auth, payload });

  it('series for many keys: one store query, equal to the single-key answers', async () => {
    const spy = vi.spyOn(h.sluice.series, 'series');
    const keys = cars.slice(0, 25).map((c) => c.id);
    const res = await query({
      dataset: 'readings',
      kind: 'series',
      keys: [...keys, 'nobody'],
      step: '1h',
      agg: 'max',
    });
    expect(res.statusCode).toBe(200);
    const bulk = res.json();
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    expect(bulk).toMatchObject({ kind: 'series', key_column: 'device_id', keys: 26 });
    expect(bulk.series).toHaveLength(25);
    for (const id of ['car-0', 'car-7', 'car-24']) {
      const single = await get(`/v1/datasets/readings/series?device_id=${id}&step=1h&agg=max`);
      expect(bulk.series.find((s: { key: { device_id: string } }) => s.key.device_id === id)).toEqual(
        single.series[0],
      );
    }
    const viaGet = await get(
      `/v1/datasets/readings/series?${keys.map((k) => `device_id=${k}`).join('&')}&step=1h&agg=max`,
    );
    expect(viaGet.series).toEqual(bulk.series);
  });

  it('key_from: the cars of shop 123, one MetaStore lookup and one series query', async () => {
    const find = vi.spyOn(h.sluice.meta, 'findRecords');
    const series = vi.spyOn(h.sluice.series, 'series');
    const res = await query({
      dataset: 'readings',
      kind: 'series',
      key_from: { dataset: 'cars', where: { shop_id: '123' }, column: 'id' },
      from: new Date(T0).toISOString(),
      to: T0 + 3_600_000,
      step: '1h',
      agg: 'count',
    });
    expect(res.statusCode).toBe(200);
    expect(find).toHaveBeenCalledTimes(1);
    expect(series).toHaveBeenCalledTimes(1);
    find.mockRestore();
    series.mockRestore();
    const body = res.json();
    const shop = cars.filter((c) => c.shop === '123').map((c) => c.id);
    expect(body.keys).toBe(shop.length);
    expect(body.series.map((s: { key: { device_id: string } }) => s.key.device_id).sort()).toEqual(
      [...shop].sort(),
    );
    for (const s of body.series) expect(s.points).toEqual([{ time: new Date(T0).toISOString(), value: 6 }]);
  });

  it('stats for many keys from memory, by POST and by repeated query parameters', async () => {
    const keys = ['car-1', 'car-2', 'nobody'];
    const bulk = (await query({ dataset: 'readings', kind: 'stats', keys })).json();
    expect(bulk.missing).toEqual(['nobody']);
    for (const id of ['car-1', 'car-2']) {
      const single = await get(`/v1/datasets/readings/stats?device_id=${id}`);
      expect(bulk.stats.find((s: { key: { device_id: string } }) => s.key.device_id === id).fields).toEqual(
        single.fields,
      );
    }
    const viaGet = await get(`/v1/datasets/readings/stats?${keys.map((k) => `device_id=${k}`).join('&')}`);
    expect(viaGet.stats).toEqual(bulk.stats);
    expect(viaGet.missing).toEqual(['nobody']);
  });

  it('latest rows of many keys in one store query', async () => {
    const spy = vi.spyOn(h.sluice.series, 'latestMany');
    const res = await query({ dataset: 'readings', kind: 'latest', keys: ['car-3', 'car-5', 'nobody'] });
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    const body = res.json();
    expect(body.missing).toEqual(['nobody']);
    for (const id of ['car-3', 'car-5']) {
      const single = await get(`/v1/datasets/readings/records/${id}`);
      expect(body.records.find((r: { device_id: string }) => r.device_id === id)).toEqual(single.record);
    }
  });

  it('refuses malformed bulk reads with stable codes', async () => {
    const code = async (payload: object) => (await query(payload)).json().code;
    expect(await code({ dataset: 'readings', kind: 'series' })).toBe('bad_query');
    expect(await code({ dataset: 'readings', kind: 'series', keys: ['a'], key_column: 'value' })).toBe(
      'bad_query',
    );
    expect(
      await code({
        dataset: 'readings',
        kind: 'series',
        key_from: { dataset: 'readings', where: {}, column: 'x' },
      }),
    ).toBe('unsupported_for_mode');
    expect(
      await code({
        dataset: 'readings',
        kind: 'series',
        key_from: { dataset: 'cars', where: { nope: '1' }, column: 'id' },
      }),
    ).toBe('bad_query');
    expect(await code({ dataset: 'readings', kind: 'median', keys: ['a'] })).toBe('validation_failed');
    expect(await code({ dataset: 'nope', kind: 'stats', keys: ['a'] })).toBe('dataset_not_found');
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, auth, startHarness } from '../helpers/harness.js';

const lines = (rows: object[]): Buffer => Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');

describe('GET /v1/datasets/{name}/records (distinct readout)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('returns each stored record once, for a dataset that keeps duplicates too', async () => {
    h = await startHarness();
    // A dataset without dedup stores repeats; the readout still never returns one.
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/datasets',
      headers: auth,
      payload: {
        name: 'raw_readings',
        format: 'ndjson',
        columns: [
          { name: 'device_id', type: 'string', role: 'key', required: true },
          { name: 'timestamp', type: 'time', role: 'time', required: true },
          { name: 'value', type: 'number', role: 'field', required: true },
        ],
        dedup: 'none',
      },
    });
    expect(created.statusCode).toBe(201);
    const t = Date.parse('2026-01-01T00:00:00Z');
    const rows = [
      { device_id: 'd1', timestamp: t, value: 1 },
      { device_id: 'd1', timestamp: t, value: 1 },
      { device_id: 'd1', timestamp: t, value: 2 },
      { device_id: 'd1', timestamp: t + 1000, value: 1 },
      { device_id: 'd2', timestamp: t, value: 1 },
    ];
    await h.sluice.writer.write('raw_readings', lines(rows), { client: null });
    const layout = h.sluice.registry.get('raw_readings').layout;
    expect(await h.sluice.series.count(layout)).toBe(5);
    const res = await h.app.inject({ url: '/v1/datasets/raw_readings/records?device_id=d1', headers: auth });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.distinct).toBe(true);
    expect(body.duplicates_removed).toBe(1);
    expect(body.records.map((r: { value: number }) => r.value).sort()).toEqual([1, 1, 2]);
  });

  it('reads telematics packets once each: a repeat with reordered JSON keys is one packet, distinct ones stay', async () => {
    h = await startHarness();
    const t = new Date(Date.now() - 60_000).toISOString();
    const packets = [
      { car_id: 'c1', rtc_time: t, data: { speed: 50, fuel: 0.5 } },
      { car_id: 'c1', rtc_time: t, data: { fuel: 0.5, speed: 50 } },
      { car_id: 'c1', rtc_time: t, data: { odometer: 1200 } },
      { car_id: 'c2', rtc_time: t, data: { speed: 10 } },
    ];
    const written = await h.sluice.writer.write('telematics', lines(packets), { client: null });
    expect(written.rows).toMatchObject({ total: 4, valid: 3, duplicate: 1 });
    const res = await h.app.inject({ url: '/v1/datasets/telematics/records?car_id=c1', headers: auth });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.distinct).toBe(true);
    const data = body.records.map((r: { data: unknown }) => JSON.stringify(r.data)).sort();
    expect(data).toEqual(
      [JSON.stringify({ fuel: 0.5, speed: 50 }), JSON.stringify({ odometer: 1200 })].sort(),
    );
  });
});

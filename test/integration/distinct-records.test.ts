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

  it('answers capability_missing for payload datasets while the store cannot read payloads in a range', async () => {
    h = await startHarness();
    if (h.sluice.series.rows) return; // the store reads rows: covered by the telematics readout test
    const res = await h.app.inject({ url: '/v1/datasets/telematics/records', headers: auth });
    expect(res.statusCode).toBe(501);
    expect(res.json().code).toBe('capability_missing');
  });
});

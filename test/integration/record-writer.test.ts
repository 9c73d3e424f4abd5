import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, auth, startHarness, tempDir } from '../helpers/harness.js';

const lines = (rows: object[]): Buffer => Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');

describe('RecordWriter (rows written from memory through the pipeline)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('validates, applies once, and reports per-write counts', async () => {
    h = await startHarness();
    const now = Date.now();
    const body = lines([
      { device_id: 'd1', timestamp: now - 1000, value: 1 },
      { device_id: 'd1', timestamp: now - 2000, value: 3 },
      { device_id: 'd1', timestamp: 'never', value: 3 },
      { device_id: 'd1', timestamp: now - 1000, value: 1 },
    ]);
    const res = await h.sluice.writer.write('readings', body, { client: null });
    expect(res.rows).toEqual({ total: 4, valid: 2, invalid: 1, duplicate: 1 });
    expect(res.rejects_by_reason).toEqual({ bad_time: 1 });
    expect(res.rejects[0]).toMatchObject({ line: 3, reason: 'bad_time' });
    const stats = await h.app.inject({ url: '/v1/datasets/readings/stats?device_id=d1', headers: auth });
    expect(stats.json().fields.value).toMatchObject({ count: 2, min: 1, max: 3 });
  });

  it('applies a replayed source once, including after a restart', async () => {
    const dataDir = tempDir();
    h = await startHarness({ dataDir });
    h.sluice.writer.acceptPrefix('c_');
    const now = Date.now();
    const body = lines([{ device_id: 'd2', timestamp: now, value: 5 }]);
    const first = await h.sluice.writer.write('readings', body, { client: null, source: 'c_test-page-1' });
    expect(first.rows.valid).toBe(1);
    const again = await h.sluice.writer.write('readings', body, { client: null, source: 'c_test-page-1' });
    expect(again.rows.valid).toBe(1); // the recorded outcome of the batch applied before
    await h.close();
    h = await startHarness({ dataDir });
    const stats = await h.app.inject({ url: '/v1/datasets/readings/stats?device_id=d2', headers: auth });
    expect(stats.json().fields.value.count).toBe(1);
  });

  it('refuses replace-mode datasets', async () => {
    h = await startHarness();
    await expect(
      h.sluice.writer.write('promotions', Buffer.from('{}\n'), { client: null }),
    ).rejects.toMatchObject({
      code: 'unsupported_for_mode',
    });
  });
});

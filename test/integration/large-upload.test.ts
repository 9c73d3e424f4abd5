import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newExpectation, READINGS_INVALID_KINDS, readingsFile } from '../../src/sim/readings-file.js';
import { auth, startHarness, waitForUpload, type Harness } from '../helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('a 1M-row readings file with 1% invalid rows of every reason', () => {
  it('is answered 201 before processing ends, then reported exactly with matching line numbers', async () => {
    const expected = newExpectation();
    const body = Buffer.from(
      [...readingsFile({ rows: 1_000_000, invalidShare: 0.01, seed: 11 }, expected)].join(''),
    );
    for (const kind of READINGS_INVALID_KINDS) expect(expected.byReason[kind], kind).toBeGreaterThan(0);

    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/datasets/readings/uploads',
      headers: { ...auth, 'content-type': 'text/csv' },
      payload: body,
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().status).not.toBe('done');

    const report = await waitForUpload(h.app, res.json().id, 120_000);
    expect(report.status).toBe('done');
    expect(report.rows).toEqual({
      total: expected.rows,
      valid: expected.valid,
      invalid: expected.invalid,
      duplicate: 0,
    });
    expect(report.rejects_by_reason).toEqual(expected.byReason);
    expect(report.rejects).toHaveLength(100);

    const csv = await h.app.inject({ method: 'GET', url: `/v1/uploads/${report.id}/rejects`, headers: auth });
    const got = new Map<number, string>();
    for (const line of csv.body.split('\n').slice(1)) {
      if (!line) continue;
      const [n, reason] = line.split(',');
      got.set(Number(n), reason!);
    }
    expect(got).toEqual(expected.lines);

    const stats = await h.app.inject({ method: 'GET', url: '/v1/datasets/readings/stats', headers: auth });
    expect(stats.json().fields.value.count).toBe(expected.valid);
  });
});

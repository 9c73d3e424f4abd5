import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startHarness, upload, waitForUpload, type Harness } from '../helpers/harness.js';

let h: Harness;
let writerA: string;
let writerB: string;

async function key(name: string, role: string, datasets?: string[]): Promise<{ id: string; key: string }> {
  const res = await h.app.inject({
    method: 'POST',
    url: '/v1/keys',
    headers: auth,
    payload: { name, role, datasets },
  });
  return res.json();
}

beforeAll(async () => {
  const alerts: any = { summary: { enabled: false } };
  h = await startHarness({ config: { alerts } });
  const a = await key('gateway-a', 'writer');
  const b = await key('gateway-b', 'writer');
  writerA = a.key;
  writerB = b.key;
  const rows = (bad: number, good: number, offset: number) => {
    const out = ['device_id,timestamp,value'];
    for (let i = 0; i < good; i++)
      out.push(`d${i % 3},2024-05-01T00:${String(i % 60).padStart(2, '0')}:00Z,${i + offset}`);
    for (let i = 0; i < bad; i++)
      out.push(i % 3 === 0 ? `d1,not-a-time,${i}` : `d1,2024-05-01T01:00:00Z,v${i}`);
    return out.join('\n') + '\n';
  };
  for (const [secret, body] of [
    [writerA, rows(30, 70, 0)],
    [writerB, rows(2, 98, 1000)],
  ] as const) {
    const up = await upload(h.app, 'readings', body, { authorization: `Bearer ${secret}` });
    await waitForUpload(h.app, up.id);
  }
  // A replace-mode upload is counted when it finishes.
  const promo = await upload(
    h.app,
    'promotions',
    'p1,1.5,2018-08-04 05:32:31 +0200 CEST\np2,abc,2018-08-04 05:32:31 +0200 CEST\n',
    {
      authorization: `Bearer ${writerA}`,
    },
  );
  await waitForUpload(h.app, promo.id);
  await h.sluice.alerting.idle();
});
afterAll(async () => {
  await h.close();
});

describe('GET /v1/quality', () => {
  it('shows invalid rates over time, per dataset and per client, with top reasons and example lines', async () => {
    const res = await h.app.inject({
      method: 'GET',
      url: '/v1/quality?dataset=readings&step=1m',
      headers: auth,
    });
    expect(res.statusCode, res.body).toBe(200);
    const q = res.json();
    expect(q.totals).toMatchObject({ total: 200, valid: 168, invalid: 32, invalid_rate: 0.16 });
    expect(q.buckets.length).toBeGreaterThanOrEqual(1);
    expect(q.buckets.reduce((n: number, b: any) => n + b.invalid, 0)).toBe(32);
    expect(q.by_client).toEqual([
      expect.objectContaining({ total: 100, invalid: 30, invalid_rate: 0.3 }),
      expect.objectContaining({ total: 100, invalid: 2, invalid_rate: 0.02 }),
    ]);
    expect(q.top_reasons.map((r: any) => [r.reason, r.count])).toEqual([
      ['not_a_number', 21],
      ['bad_time', 11],
    ]);
    const example = q.top_reasons[1].examples[0];
    expect(example).toMatchObject({
      dataset: 'readings',
      raw: expect.stringContaining('not-a-time'),
      column: 'timestamp',
    });
    expect(example.line).toBeGreaterThan(1);
  });

  it('filters by client, and counts replace-mode uploads', async () => {
    const a = (await h.app.inject({ method: 'GET', url: '/v1/quality', headers: auth })).json();
    const clientA = a.by_client[0].client;
    const onlyA = (
      await h.app.inject({ method: 'GET', url: `/v1/quality?client=${clientA}`, headers: auth })
    ).json();
    // Worst invalid rate first.
    expect(onlyA.by_dataset).toEqual([
      expect.objectContaining({ dataset: 'promotions', total: 2, invalid: 1, invalid_rate: 0.5 }),
      expect.objectContaining({ dataset: 'readings', total: 100, invalid: 30 }),
    ]);
    expect(onlyA.by_client.map((c: any) => c.client)).toEqual([clientA]);
  });

  it('answers empty windows, rejects bad parameters, and respects dataset scopes', async () => {
    const empty = await h.app.inject({
      method: 'GET',
      url: '/v1/quality?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z',
      headers: auth,
    });
    expect(empty.json()).toMatchObject({
      totals: { total: 0, invalid_rate: 0 },
      buckets: [],
      top_reasons: [],
    });
    const bad = await h.app.inject({ method: 'GET', url: '/v1/quality?step=soon', headers: auth });
    expect(bad.json().code).toBe('bad_query');
    const unknown = await h.app.inject({ method: 'GET', url: '/v1/quality?dataset=nope', headers: auth });
    expect(unknown.json().code).toBe('dataset_not_found');
    const scoped = await key('promo-reader', 'reader', ['promotions']);
    const headers = { authorization: `Bearer ${scoped.key}` };
    expect((await h.app.inject({ method: 'GET', url: '/v1/quality', headers })).json().code).toBe(
      'forbidden',
    );
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/quality?dataset=readings', headers })).json().code,
    ).toBe('forbidden');
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/quality?dataset=promotions', headers })).statusCode,
    ).toBe(200);
  });
});

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auth, startHarness, upload, waitForUpload, type Harness } from '../helpers/harness.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const MIN = 60_000;
const HOUR = 3_600_000;

let h: Harness;
let hook: WebhookReceiver;

beforeAll(async () => {
  hook = await startWebhookReceiver();
});
afterAll(async () => {
  await hook.close();
});
beforeEach(async () => {
  h = await startHarness({ config: { alerts: alertsConfig() } });
  hook.bodies.length = 0;
  const res = await h.app.inject({
    method: 'POST',
    url: '/v1/channels',
    headers: auth,
    payload: { id: 'ops-hook', type: 'webhook', url: hook.url },
  });
  expect(res.statusCode, res.body).toBe(201);
});
afterEach(async () => {
  await h.close();
});

function alertsConfig(): any {
  // Evaluation is driven by the tests (tick at chosen times); summaries by hand.
  return { evaluate_every: '1h', notify: { attempts: 2, backoff: '10ms' }, summary: { enabled: false } };
}

function csv(rows: [string, number, number | string][]): string {
  return (
    ['device_id,timestamp,value', ...rows.map(([d, t, v]) => `${d},${new Date(t).toISOString()},${v}`)].join(
      '\n',
    ) + '\n'
  );
}

async function send(rows: [string, number, number | string][]): Promise<any> {
  const up = await upload(h.app, 'readings', csv(rows));
  const report = await waitForUpload(h.app, up.id);
  await h.sluice.alerting.idle();
  return report;
}

async function rule(body: Record<string, unknown>): Promise<void> {
  const res = await h.app.inject({ method: 'POST', url: '/v1/alert-rules', headers: auth, payload: body });
  expect(res.statusCode, res.body).toBe(201);
}

async function tick(at: number): Promise<void> {
  await h.sluice.alerting.evaluator.tick(at);
  await h.sluice.alerting.idle();
}

async function alerts(query = ''): Promise<any[]> {
  const res = await h.app.inject({ method: 'GET', url: `/v1/alerts${query}`, headers: auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().alerts;
}

const alertBodies = () => hook.bodies.filter((b) => b.sluice.kind === 'alert');

describe('threshold rule', () => {
  it('fires per group after its `for` duration, notifies the webhook, and resolves', async () => {
    const now = Date.now();
    await send([
      ['dev-1', now - 5 * MIN, 20],
      ['dev-1', now - 4 * MIN, 150],
      ['dev-2', now - 4 * MIN, 30],
    ]);
    await rule({
      id: 'hot',
      type: 'threshold',
      severity: 'critical',
      dataset: 'readings',
      agg: 'max',
      field: 'value',
      group_by: ['device_id'],
      window: '1h',
      op: '>',
      value: 100,
      for: '5m',
    });
    await tick(now);
    expect(await alerts()).toEqual([]); // pending: the condition has held for 0 of 5 minutes
    await tick(now + 6 * MIN);
    const [a] = await alerts('?state=firing');
    expect(a).toMatchObject({
      rule: 'hot',
      group: 'device_id=dev-1',
      severity: 'critical',
      state: 'firing',
      value: 150,
      labels: { dataset: 'readings', device_id: 'dev-1', rule: 'hot' },
    });
    await hook.waitFor(1);
    expect(alertBodies()[0]).toMatchObject({
      text: expect.stringContaining('[CRITICAL] rule hot (device_id=dev-1)'),
      blocks: expect.any(Array),
      attachments: [expect.objectContaining({ color: '#d62728' })],
      sluice: { state: 'firing', severity: 'critical', data: { id: a.id } },
    });

    // Repeats update the open alert rather than opening another.
    await tick(now + 7 * MIN);
    const again = await alerts();
    expect(again).toHaveLength(1);
    expect(again[0].occurrences).toBe(2);
    expect(alertBodies()).toHaveLength(1);

    // The spike leaves the 1h window: resolved, and the channel hears it.
    await tick(now + 2 * HOUR);
    const [resolved] = await alerts();
    expect(resolved).toMatchObject({ id: a.id, state: 'resolved' });
    await hook.waitFor(2);
    expect(alertBodies()[1].sluice.state).toBe('resolved');
    expect(await alerts('?state=firing')).toEqual([]);
  });

  it('computes p95 and row counts over the window', async () => {
    const now = Date.now();
    const rows: [string, number, number][] = [];
    for (let i = 1; i <= 100; i++) rows.push(['dev-p', now - 10 * MIN + i * 1000, i]);
    await send(rows);
    await rule({
      id: 'p95',
      type: 'threshold',
      dataset: 'readings',
      agg: 'p95',
      field: 'value',
      window: '1h',
      op: '>=',
      value: 95,
    });
    await rule({
      id: 'few',
      type: 'threshold',
      dataset: 'readings',
      agg: 'count',
      window: '1h',
      op: '<',
      value: 10,
    });
    await tick(now);
    const firing = await alerts('?state=firing');
    expect(firing.map((a) => [a.rule, a.value])).toEqual([['p95', 95]]);
    // No rows in the window: a count of 0 is below 10.
    await tick(now + 3 * HOUR);
    expect((await alerts('?state=firing')).map((a) => [a.rule, a.value])).toEqual([['few', 0]]);
  });
});

describe('invalid-ratio rule', () => {
  it('fires on an upload over the ratio and resolves on the next clean upload of that client', async () => {
    await rule({
      id: 'bad-uploads',
      type: 'invalid_ratio',
      per: 'upload',
      dataset: 'readings',
      ratio: 0.2,
      min_rows: 10,
    });
    const now = Date.now();
    const rows: [string, number, number | string][] = [];
    for (let i = 0; i < 20; i++) rows.push(['dev-1', now - i * 1000, i % 2 ? 'oops' : i]);
    const report = await send(rows);
    expect(report.rows.invalid).toBe(10);
    const [a] = await alerts('?state=firing');
    expect(a).toMatchObject({ rule: 'bad-uploads', kind: 'invalid_ratio', value: 0.5 });
    expect(a.description).toContain(`in upload ${report.id}`);
    await hook.waitFor(1);

    const clean: [string, number, number][] = [];
    for (let i = 0; i < 20; i++) clean.push(['dev-1', now - 100_000 - i * 1000, i]);
    await send(clean);
    expect(await alerts('?state=firing')).toEqual([]);
    expect((await alerts())[0]).toMatchObject({ id: a.id, state: 'resolved' });
  });

  it('fires per client over a window from the quality counters', async () => {
    await rule({
      id: 'bad-client',
      type: 'invalid_ratio',
      per: 'client',
      ratio: 0.1,
      min_rows: 5,
      window: '15m',
    });
    const now = Date.now();
    await send([
      ['dev-1', now, 'x'],
      ['dev-1', now - 1000, 'y'],
      ['dev-1', now - 2000, 1],
      ['dev-1', now - 3000, 2],
      ['dev-1', now - 4000, 3],
    ]);
    await tick(Date.now());
    const [a] = await alerts('?state=firing');
    expect(a).toMatchObject({
      rule: 'bad-client',
      value: 0.4,
      labels: { client: expect.stringMatching(/^key_/) },
    });
    await tick(Date.now() + HOUR);
    expect(await alerts('?state=firing')).toEqual([]);
  });
});

/** Eight days of hourly rows (10 per hour) for one device, ending `silentFor` before `now`. */
function history(device: string, now: number, silentFor: number): [string, number, number][] {
  const end = Math.floor((now - silentFor) / HOUR) * HOUR;
  const rows: [string, number, number][] = [];
  for (let t = end - 8 * 24 * HOUR; t < end; t += HOUR)
    for (let i = 0; i < 10; i++) rows.push([device, t + i * 60_000, i]);
  return rows;
}

describe('deadman rule', () => {
  it('fires when a learnt series goes silent and resolves when rows come back', async () => {
    const now = Date.now();
    await rule({ id: 'silent', type: 'deadman', dataset: 'readings', per: 'series', after: '30m' });
    await send(history('dev-d', now, 3 * HOUR));
    await tick(now);
    const [a] = await alerts('?state=firing');
    expect(a).toMatchObject({ rule: 'silent', group: 'device_id=dev-d', kind: 'deadman' });
    expect(a.description).toMatch(/no rows from device_id=dev-d in readings since/);
    await hook.waitFor(1);

    await send([['dev-d', now + 1000, 1]]);
    await tick(now + 2000);
    expect(await alerts('?state=firing')).toEqual([]);
  });

  it('learns from rows stored before the rule was made', async () => {
    const now = Date.now();
    await send(history('dev-old', now, 3 * HOUR));
    await rule({ id: 'late-rule', type: 'deadman', dataset: 'readings', per: 'series', after: '30m' });
    await tick(now);
    const [a] = await alerts('?state=firing');
    expect(a).toMatchObject({ rule: 'late-rule', group: 'device_id=dev-old' });
    // A deadman rule on a dataset without field columns learns from live batches only.
    await rule({ id: 'packets', type: 'deadman', dataset: 'telematics' });
  });

  it('stays quiet over a configured holiday', async () => {
    const now = Date.now();
    const days = [-1, 0, 1].map((d) => new Date(now + d * 86_400_000).toISOString().slice(0, 10));
    await rule({
      id: 'silent-holiday',
      type: 'deadman',
      dataset: 'readings',
      per: 'series',
      after: '30m',
      holidays: { dates: days },
    });
    await rule({ id: 'silent-workday', type: 'deadman', dataset: 'readings', per: 'series', after: '30m' });
    await send(history('dev-h', now, 3 * HOUR));
    await tick(now);
    expect((await alerts('?state=firing')).map((a) => a.rule)).toEqual(['silent-workday']);
  });

  it('stays quiet while the baseline has not seen the hours of the silence', async () => {
    const now = Date.now();
    await rule({ id: 'young', type: 'deadman', dataset: 'readings', after: '30m' });
    await send([['dev-y', now - 3 * HOUR, 1]]);
    await tick(now);
    expect(await alerts()).toEqual([]);
  });
});

describe('anomaly rule', () => {
  it('learns a per-series baseline, waits out its warm-up, fires on an outlier and resolves', async () => {
    await rule({
      id: 'odd',
      type: 'anomaly',
      dataset: 'readings',
      field: 'value',
      agg: 'mean',
      group_by: ['device_id'],
      bucket: '1m',
      warmup: 10,
      sensitivity: 5,
    });
    const base = Math.floor((Date.now() - 3 * HOUR) / MIN) * MIN;
    const normal = (from: number, n: number) => {
      const rows: [string, number, number][] = [];
      for (let m = 0; m < n; m++)
        for (let i = 0; i < 6; i++)
          rows.push(['dev-a', from + m * MIN + i * 5000, 20 + ((m * 7 + i) % 5) * 0.5]);
      return rows;
    };
    // Five buckets only: still warming up, an outlier is not judged.
    await send(normal(base, 5));
    await send([['dev-a', base + 5 * MIN, 900]]);
    await tick(base + 6 * MIN);
    expect(await alerts()).toEqual([]);

    await send(normal(base + 6 * MIN, 30));
    await tick(base + 36 * MIN);
    expect(await alerts()).toEqual([]);

    await send([['dev-a', base + 36 * MIN + 1000, 500]]);
    await tick(base + 37 * MIN);
    const [a] = await alerts('?state=firing');
    expect(a).toMatchObject({ rule: 'odd', group: 'device_id=dev-a', value: 500 });
    expect(a.description).toMatch(/outside the learnt range/);

    await send(normal(base + 37 * MIN, 1));
    await tick(base + 38 * MIN);
    expect(await alerts('?state=firing')).toEqual([]);
  });
});

describe('lifecycle', () => {
  it('takes alerts from other subsystems through the AlertSink, with dedup', async () => {
    const sink = h.sluice.alerting.sink;
    const at = Date.now();
    sink.raise({
      source: 'connector:feed',
      kind: 'credentials',
      severity: 'critical',
      description: 'provider answers 401',
      at,
    });
    sink.raise({
      source: 'connector:feed',
      kind: 'credentials',
      severity: 'critical',
      description: 'provider answers 401',
      at: at + 1,
    });
    await h.sluice.alerting.idle();
    const [a] = await alerts();
    expect(a).toMatchObject({
      source: 'connector:feed',
      kind: 'credentials',
      rule: null,
      occurrences: 2,
      state: 'firing',
    });
    await hook.waitFor(1);
    sink.resolve('connector:feed', 'credentials', at + 2);
    await h.sluice.alerting.idle();
    expect((await alerts())[0]).toMatchObject({ id: a.id, state: 'resolved' });
    await hook.waitFor(2);
  });

  it('acks, silences and keeps everything across a restart', async () => {
    const now = Date.now();
    await rule({
      id: 'hot',
      type: 'threshold',
      dataset: 'readings',
      agg: 'max',
      field: 'value',
      window: '1h',
      op: '>',
      value: 100,
    });
    await rule({ id: 'silent', type: 'deadman', dataset: 'readings', per: 'series', after: '30m' });
    const silence = await h.app.inject({
      method: 'POST',
      url: '/v1/silences',
      headers: auth,
      payload: {
        matchers: { rule: 'silent' },
        ends_at: new Date(now + HOUR).toISOString(),
        comment: 'maintenance',
      },
    });
    expect(silence.statusCode, silence.body).toBe(201);
    await send([...history('dev-r', now, 3 * HOUR), ['dev-x', now - MIN, 500]]);
    await tick(now);
    const firing = await alerts('?state=firing');
    expect(firing.map((a) => [a.rule, a.silenced]).sort()).toEqual([
      ['hot', false],
      ['silent', true],
    ]);
    await hook.waitFor(1);
    expect(alertBodies().map((b) => b.sluice.data.rule)).toEqual(['hot']); // the silenced one is not sent

    const hot = firing.find((a) => a.rule === 'hot');
    const ack = await h.app.inject({ method: 'POST', url: `/v1/alerts/${hot.id}/ack`, headers: auth });
    expect(ack.json()).toMatchObject({ id: hot.id, state: 'firing', acked_by: expect.any(String) });

    const dataDir = h.dataDir;
    await h.close();
    h = await startHarness({ dataDir, config: { alerts: alertsConfig() } });
    expect((await alerts('?state=firing')).map((a) => [a.rule, a.acked_at !== null]).sort()).toEqual([
      ['hot', true],
      ['silent', false],
    ]);
    const rules = (await h.app.inject({ method: 'GET', url: '/v1/alert-rules', headers: auth })).json().rules;
    expect(rules.map((r: any) => [r.id, r.origin])).toEqual([
      ['hot', 'api'],
      ['silent', 'api'],
    ]);
    const channels = (await h.app.inject({ method: 'GET', url: '/v1/channels', headers: auth })).json()
      .channels;
    expect(channels[0]).toMatchObject({ id: 'ops-hook', status: { sent: 1, failed: 0, healthy: true } });
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/silences', headers: auth })).json().silences,
    ).toHaveLength(1);

    // The deadman baseline came back with the rule: still firing, one open alert, no new notification.
    hook.bodies.length = 0;
    await tick(now + MIN);
    const after = await alerts('?state=firing');
    expect(after).toHaveLength(2);
    expect(after.find((a) => a.rule === 'silent').occurrences).toBe(2);
    expect(hook.bodies).toEqual([]);
  });

  it('answers the request-analytics alerts facade', async () => {
    const sink = h.sluice.alerting.sink;
    const at = Date.now();
    sink.raise({ source: 's1', kind: 'k', severity: 'critical', description: 'p95 latency over 2s', at });
    sink.raise({ source: 's2', kind: 'k', severity: 'warning', description: 'error rate up', at });
    await h.sluice.alerting.idle();
    const res = await h.app.inject({
      method: 'GET',
      url: '/api/v1/requests/alerts?severity=critical',
      headers: auth,
    });
    expect(res.json()).toEqual({
      status: 'success',
      alerts: [
        {
          alert_id: expect.stringMatching(/^al_/),
          description: 'p95 latency over 2s',
          timestamp: new Date(at).toISOString(),
          severity: 'critical',
        },
      ],
    });
    const all = await h.app.inject({ method: 'GET', url: '/api/v1/requests/alerts', headers: auth });
    expect(all.json().alerts).toHaveLength(2);
    const bad = await h.app.inject({
      method: 'GET',
      url: '/api/v1/requests/alerts?severity=urgent',
      headers: auth,
    });
    expect(bad.statusCode).toBe(400);
  });

  it('rejects bad rules with stable codes', async () => {
    const post = (payload: Record<string, unknown>) =>
      h.app.inject({ method: 'POST', url: '/v1/alert-rules', headers: auth, payload });
    expect(
      (await post({ id: 'x', type: 'threshold', dataset: 'readings', agg: 'mean', op: '>', value: 1 })).json()
        .code,
    ).toBe('validation_failed');
    expect(
      (await post({ id: 'x', type: 'threshold', dataset: 'nope', agg: 'count', op: '>', value: 1 })).json()
        .code,
    ).toBe('dataset_not_found');
    expect(
      (
        await post({
          id: 'x',
          type: 'threshold',
          dataset: 'readings',
          agg: 'max',
          field: 'nope',
          op: '>',
          value: 1,
        })
      ).json().code,
    ).toBe('bad_request');
    expect(
      (await post({ id: 'x', type: 'deadman', dataset: 'readings', channels: ['missing'] })).json().code,
    ).toBe('bad_request');
    expect((await post({ id: 'x', type: 'deadman', dataset: 'readings' })).statusCode).toBe(201);
    expect((await post({ id: 'x', type: 'deadman', dataset: 'readings' })).json().code).toBe(
      'alert_rule_exists',
    );
    const del = await h.app.inject({ method: 'DELETE', url: '/v1/alert-rules/x', headers: auth });
    expect(del.statusCode).toBe(204);
    expect((await h.app.inject({ method: 'GET', url: '/v1/alert-rules/x', headers: auth })).json().code).toBe(
      'alert_rule_not_found',
    );
    expect(
      (await h.app.inject({ method: 'POST', url: '/v1/alerts/al_nope/ack', headers: auth })).json().code,
    ).toBe('alert_not_found');
  });
});

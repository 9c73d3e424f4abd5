import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ScaledClock } from '../../src/connectors/clock.js';
import { TelematicsSim } from '../../src/sim/telematics-sim.js';
import { type Harness, auth, startHarness, tempDir } from '../helpers/harness.js';
import { RecordingSink, clockAt, until } from '../helpers/connector-helpers.js';

const MIN = 60_000;
const TOKEN = 'Bearer sim-token-kept-secret';

describe('/v1/connectors', () => {
  let h: Harness | undefined;
  let sim: TelematicsSim | undefined;
  afterEach(async () => {
    await h?.close();
    await sim?.close();
    h = undefined;
    sim = undefined;
  });

  it('creates a connector, keeps its credentials encrypted at rest and out of answers, and survives a restart', async () => {
    const clock = new ScaledClock(600);
    sim = new TelematicsSim({ clock, scale: 0.02, maxPerCall: 250, token: 'sim-token-kept-secret' });
    const url = await sim.listen();
    const dataDir = tempDir();
    h = await startHarness({ dataDir, sluice: { clock, alertSink: new RecordingSink() } });
    const body = {
      id: 'feed-api',
      kind: 'cursor-feed',
      dataset: 'telematics',
      url: `${url}/v1/packets`,
      credentials: { header: 'authorization', value: TOKEN },
      rate_limit: { calls: 100, per: '1m' },
      records_path: 'packets',
    };
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/connectors',
      headers: auth,
      payload: body,
    });
    expect(created.statusCode).toBe(201);
    expect(created.headers.location).toBe('/v1/connectors/feed-api');
    expect(created.json().config.credentials).toEqual({ header: 'authorization', set: true });
    const again = await h.app.inject({ method: 'POST', url: '/v1/connectors', headers: auth, payload: body });
    expect(again.json().code).toBe('connector_exists');
    const bad = await h.app.inject({
      method: 'POST',
      url: '/v1/connectors',
      headers: auth,
      payload: { ...body, id: 'x2', page_size: -1 },
    });
    expect(bad.statusCode).toBe(400);
    expect((await h.app.inject({ url: '/v1/connectors/nope', headers: auth })).json().code).toBe(
      'connector_not_found',
    );
    await until(() => sim!.stats.ok > 0, 20_000, 'a successful call');
    const probe = await h.app.inject({ method: 'POST', url: '/v1/connectors/feed-api/probe', headers: auth });
    expect(probe.json()).toMatchObject({ ok: true });
    const list = await h.app.inject({ url: '/v1/connectors', headers: auth });
    expect(list.body).not.toContain('kept-secret');
    await h.close();
    h = undefined;
    for (const f of fs.readdirSync(dataDir).filter((f) => f.startsWith('meta.sqlite')))
      expect(fs.readFileSync(path.join(dataDir, f)).includes('kept-secret'), f).toBe(false);
    // After a restart the connector is back, with its cursor, and calls with the decrypted key.
    h = await startHarness({ dataDir, sluice: { clock, alertSink: new RecordingSink() } });
    const ok = sim.stats.ok;
    await until(() => sim!.stats.ok > ok, 20_000, 'calls after the restart');
    expect(sim.stats.unauthorized).toBe(0);
  }, 60_000);

  it('keeps within a cost budget', async () => {
    const clock = new ScaledClock(600);
    const start = clock.now();
    sim = new TelematicsSim({ clock, scale: 0.05, maxPerCall: 25, trafficFrom: start - 30 * MIN });
    const url = await sim.listen();
    h = await startHarness({ sluice: { clock, alertSink: new RecordingSink() } });
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/connectors',
      headers: auth,
      payload: {
        id: 'budgeted',
        kind: 'cursor-feed',
        dataset: 'telematics',
        url: `${url}/v1/packets`,
        credentials: { value: 'Bearer sim-token' },
        cost_per_call: 0.1,
        budget: { cents: 2, per: '1h' },
        page_size: 25,
        records_path: 'packets',
      },
    });
    expect(res.statusCode).toBe(201);
    // 2 cents an hour at 0.1 cent a call: 20 calls, though a 30-minute backlog is waiting.
    await until(() => sim!.stats.calls >= 20, 20_000, 'the budget to be spent');
    await clockAt(clock, clock.now() + 20 * MIN);
    expect(sim.stats.calls).toBe(20);
    const view = (await h.app.inject({ url: '/v1/connectors/budgeted', headers: auth })).json();
    expect(view.stats.cost_cents).toBeCloseTo(2, 6);
    expect(view.limits.budget_window_calls).toBe(20);
  }, 30_000);

  it('refuses the fault switch unless fault injection is configured', async () => {
    h = await startHarness();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/testing/faults',
      headers: auth,
      payload: { series_store: { down: true } },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('fault_injection_off');
  });
});

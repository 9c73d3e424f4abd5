import { afterEach, describe, expect, it } from 'vitest';
import { ScaledClock } from '../../src/connectors/clock.js';
import type { ConnectorConfigInput } from '../../src/connectors/connector-config.js';
import { TelematicsSim } from '../../src/sim/telematics-sim.js';
import { type Harness, auth, startHarness, tempDir } from '../helpers/harness.js';
import { RecordingSink, clockAt, until, withConnectors } from '../helpers/connector-helpers.js';

const HOUR = 3_600_000;
const MIN = 60_000;
/**
 * The suite runs the hour at a twentieth of the traffic model's volume on a 240x clock.
 * SLUICE_TELEMATICS_TEST_FULL=1 runs it at full volume (about a million packets, pages of 250) on a
 * 30x clock, which takes a few real minutes.
 */
const FULL = process.env.SLUICE_TELEMATICS_TEST_FULL === '1';

function feed(url: string, patch: Partial<ConnectorConfigInput> = {}): ConnectorConfigInput {
  return {
    id: 'telematics-feed',
    kind: 'cursor-feed',
    dataset: 'telematics',
    url: `${url}/v1/packets`,
    credentials: { header: 'authorization', value: 'Bearer sim-token' },
    rate_limit: { calls: 100, per: '1m' },
    cost_per_call: 0.1,
    page_size: 25,
    records_path: 'packets',
    cursor_path: 'next_cursor',
    time_path: 'rtc_time',
    latency_target: '60s',
    ...patch,
  } as ConnectorConfigInput;
}

describe('cursor-feed against the telematics simulator (accelerated clock, real HTTP)', () => {
  let h: Harness | undefined;
  let sim: TelematicsSim | undefined;
  afterEach(async () => {
    await h?.close();
    await sim?.close();
    h = undefined;
    sim = undefined;
  });

  it(
    'stores every packet exactly once over a simulated hour with a pause and a restart, under 100 calls/min',
    async () => {
      // A twentieth of the volume with pages of 100 keeps tests fast on a shared machine; the catch-up
      // after a 15-minute pause still presses against the cap.
      const page = FULL ? 250 : 100;
      const clock = new ScaledClock(FULL ? 30 : 240);
      const start = clock.now();
      sim = new TelematicsSim({ clock, scale: FULL ? 1 : 0.05, maxPerCall: page, seed: 3 });
      sim.endTrafficAt(start + HOUR);
      const url = await sim.listen();
      const sink = new RecordingSink();
      const dataDir = tempDir();
      // Traffic ends at the hour; a long min_silence keeps the wait for the catch-up from judging silence.
      const config = withConnectors(
        feed(url, {
          page_size: page,
          max_interval: '30s',
          stoppage: { min_silence: '1h' },
        } as Partial<ConnectorConfigInput>),
      );
      const open = () => startHarness({ dataDir, config, sluice: { clock, alertSink: sink } });
      const post = (action: string) =>
        h!.app.inject({ method: 'POST', url: `/v1/connectors/telematics-feed/${action}`, headers: auth });
      h = await open();
      await clockAt(clock, start + 20 * MIN);
      expect((await post('pause')).json().status).toBe('paused');
      await clockAt(clock, start + 35 * MIN);
      expect((await post('resume')).json().status).toBe('running');
      await clockAt(clock, start + 45 * MIN);
      await h.close();
      h = await open();
      await clockAt(clock, start + HOUR);
      sim.advance(start + HOUR);
      const total = sim.packets.length;
      await until(
        async () => {
          const view = (await h!.app.inject({ url: '/v1/connectors/telematics-feed', headers: auth })).json();
          return Number(view.schedule.cursor) >= total;
        },
        FULL ? 600_000 : 60_000,
        'the connector to catch up',
      );
      await h.sluice.settle();
      const layout = h.sluice.registry.get('telematics').layout;
      expect(await h.sluice.series.count(layout)).toBe(sim.packets.distinct);
      expect(sim.packets.duplicates).toBeGreaterThan(0);
      expect(sim.stats.max_calls_per_minute).toBeLessThanOrEqual(100);
      expect(sim.stats.rate_limited).toBe(0);
      const view = (await h.app.inject({ url: '/v1/connectors/telematics-feed', headers: auth })).json();
      expect(view.health.stoppages).toEqual([]);
      expect(sink.raised).toEqual([]);
      // Calls needed: ceil(packets / page); idle probes come on top, at most one per 30 s max interval.
      const minimum = Math.ceil(total / page);
      expect(sim.stats.calls).toBeLessThanOrEqual(Math.ceil(minimum * 1.05) + 120);
      const metrics = (await h.app.inject({ url: '/metrics', headers: auth })).body;
      expect(metrics).toContain('sluice_connector_calls_total{connector="telematics-feed",outcome="ok"}');
      expect(metrics).toContain('sluice_connector_data_latency_seconds_bucket');
    },
    FULL ? 900_000 : 90_000,
  );

  it('catches up a 15-minute backlog as fast as the cap allows, never above it', async () => {
    const clock = new ScaledClock(20);
    const start = clock.now();
    sim = new TelematicsSim({ clock, scale: 0.05, maxPerCall: 25, trafficFrom: start - 15 * MIN });
    const url = await sim.listen();
    sim.advance(start);
    const backlog = sim.packets.length;
    h = await startHarness({
      config: withConnectors(feed(url)),
      sluice: { clock, alertSink: new RecordingSink() },
    });
    await until(
      async () => {
        const view = (await h!.app.inject({ url: '/v1/connectors/telematics-feed', headers: auth })).json();
        return Number(view.schedule.cursor) >= backlog;
      },
      60_000,
      'the backlog to drain',
    );
    const drainMs = clock.now() - start;
    // ~9,000 packets in pages of 25 at 100 calls/min: 3–4 minutes, and never faster than the cap.
    expect(sim.stats.max_calls_per_minute).toBeLessThanOrEqual(100);
    expect(sim.stats.max_calls_per_minute).toBeGreaterThanOrEqual(90);
    expect(sim.stats.rate_limited).toBe(0);
    expect(drainMs).toBeGreaterThan(((backlog / 25 - 100) / 100) * MIN);
    expect(drainMs).toBeLessThan((backlog / 25 / 100 + 2) * MIN);
  }, 60_000);

  it('raises a credentials stoppage within two poll intervals of a revoked key, stops calling, and recovers', async () => {
    const clock = new ScaledClock(120);
    sim = new TelematicsSim({ clock, scale: 0.1, maxPerCall: 25 });
    const url = await sim.listen();
    const sink = new RecordingSink();
    h = await startHarness({
      config: withConnectors(feed(url, { max_interval: '30s' })),
      sluice: { clock, alertSink: sink },
    });
    await clockAt(clock, clock.now() + 5 * MIN);
    const revokedAt = clock.now();
    sim.revoke();
    await until(() => sink.kinds().includes('credentials'), 20_000, 'a credentials alert');
    const alert = sink.raised.find((e) => e.kind === 'credentials')!;
    expect(alert.source).toBe('connector:telematics-feed');
    expect(alert.at - revokedAt).toBeLessThanOrEqual(2 * 30_000);
    const view = (await h.app.inject({ url: '/v1/connectors/telematics-feed', headers: auth })).json();
    expect(view.status).toBe('credentials_stopped');
    expect(view.health.stoppages.map((s: { kind: string }) => s.kind)).toEqual(['credentials']);
    expect(JSON.stringify(view)).not.toContain('sim-token');
    // No hammering: ten simulated minutes later, no further calls were made.
    const rejected = sim.stats.unauthorized;
    await clockAt(clock, clock.now() + 10 * MIN);
    expect(sim.stats.unauthorized).toBe(rejected);
    expect(sink.kinds()).toEqual(['credentials']);
    // New credentials resume the connector, and the stoppage is resolved.
    sim.restore();
    const put = await h.app.inject({
      method: 'PUT',
      url: '/v1/connectors/telematics-feed/credentials',
      headers: auth,
      payload: { value: 'Bearer sim-token' },
    });
    expect(put.statusCode).toBe(200);
    await until(
      () => sink.resolved.some((r) => r.kind === 'credentials'),
      20_000,
      'the credentials alert to resolve',
    );
  }, 60_000);

  for (const holiday of [true, false])
    it(`judges silence on ${holiday ? 'a configured holiday as normal' : 'an ordinary day as no_data'}`, async () => {
      const origin = Date.parse('2026-12-24T23:00:00Z');
      const clock = new ScaledClock(1200, origin);
      sim = new TelematicsSim({ clock, scale: 0.02, maxPerCall: 250, quietDates: ['2026-12-25'] });
      const url = await sim.listen();
      const sink = new RecordingSink();
      h = await startHarness({
        config: withConnectors(
          feed(url, {
            page_size: 250,
            stoppage: { min_silence: '10m', holidays: { extra_dates: holiday ? ['2026-12-25'] : [] } },
          } as Partial<ConnectorConfigInput>),
        ),
        sluice: { clock, alertSink: sink },
      });
      await clockAt(clock, Date.parse('2026-12-25T00:45:00Z'));
      const view = (await h.app.inject({ url: '/v1/connectors/telematics-feed', headers: auth })).json();
      if (holiday) {
        expect(sink.raised).toEqual([]);
        expect(view.health.stoppages).toEqual([]);
      } else {
        expect(sink.kinds()).toEqual(['no_data']);
        expect(view.health.stoppages[0].kind).toBe('no_data');
      }
    }, 30_000);
});

import { afterEach, describe, expect, it } from 'vitest';
import { ScaledClock } from '../../src/connectors/clock.js';
import type { ConnectorConfigInput } from '../../src/connectors/connector-config.js';
import { MockstagramSim } from '../../src/sim/mockstagram-sim.js';
import { type Harness, auth, startHarness } from '../helpers/harness.js';
import { RecordingSink, clockAt, until, withConnectors } from '../helpers/connector-helpers.js';

const MIN = 60_000;
const FIRST = 1_000_000;
/**
 * The suite polls 100 influencers on a 20x clock. SLUICE_MOCKSTAGRAM_TEST_ENTITIES=10000 runs the
 * full-scale case instead (a 2x clock, so 10 simulated minutes take 5 real ones, and more calls in flight).
 */
const ENTITIES = Number(process.env.SLUICE_MOCKSTAGRAM_TEST_ENTITIES ?? 100);
const FULL_SCALE = ENTITIES > 1000;
const SCALE = FULL_SCALE ? 2 : 20;

function poll(url: string, count: number): ConnectorConfigInput {
  return {
    id: 'influencers',
    kind: 'entity-poll',
    dataset: 'influencers',
    url: `${url}/api/v1/influencers/{id}`,
    entities: { range: { from: FIRST, count } },
    interval: '60s',
    concurrency: FULL_SCALE ? 64 : 16,
    id_column: 'influencer_id',
    time_column: 'timestamp',
    fields: { follower_count: 'followerCount', following_count: 'followingCount' },
  } as ConnectorConfigInput;
}

describe('entity-poll against the mockstagram simulator (accelerated clock, real HTTP)', () => {
  let h: Harness | undefined;
  let sim: MockstagramSim | undefined;
  afterEach(async () => {
    await h?.close();
    await sim?.close();
    h = undefined;
    sim = undefined;
  });

  it(
    'holds a one-minute resolution for 10 minutes and loses nothing in a 60 s SeriesStore outage',
    async () => {
      const count = ENTITIES;
      const clock = new ScaledClock(SCALE);
      sim = new MockstagramSim({ clock, count, latencyMs: 50 });
      sim.trackCalls = true;
      const url = await sim.listen();
      h = await startHarness({
        config: { ...withConnectors(poll(url, count)), testing: { fault_injection: true } },
        sluice: { clock, alertSink: new RecordingSink() },
      });
      const first = Math.ceil(clock.now() / MIN) * MIN;
      const faults = (down: boolean) =>
        h!.app.inject({
          method: 'POST',
          url: '/v1/testing/faults',
          headers: auth,
          payload: { series_store: { down } },
        });
      await clockAt(clock, first + 4 * MIN);
      expect((await faults(true)).json().series_store.down).toBe(true);
      const view = async () =>
        (await h!.app.inject({ url: '/v1/connectors/influencers', headers: auth })).json();
      const before = (await view()).stats.records;
      await clockAt(clock, first + 4 * MIN + 45_000);
      // Polling goes on into the BatchLog while reads fail with the retriable store error.
      expect((await view()).stats.records).toBeGreaterThan(before + count / 2);
      const during = await h.app.inject({ url: `/influencer_analytics/${FIRST}`, headers: auth });
      expect(during.statusCode).toBe(503);
      expect(during.json().code).toBe('store_unavailable');
      await clockAt(clock, first + 5 * MIN);
      expect((await faults(false)).json().series_store.down).toBe(false);
      await clockAt(clock, first + 10 * MIN + 5_000);
      await h.sluice.connectors.pause('influencers');
      await h.sluice.settle();

      const after = await view();
      expect(after.stats.samples.missed).toBe(0);
      // 2 s here are 100 ms of real time on a shared test machine; bench/entity-poll measures real jitter.
      expect(after.schedule.jitter_ms.within_late_after_share).toBeGreaterThanOrEqual(0.8);
      // Every entity was sampled once per minute, each at its own offset, outage or not.
      for (const id of [FIRST, FIRST + 37, FIRST + count - 1]) {
        const res = await h.app.inject({
          url: `/influencer_analytics/${id}?start_time=${first / 1000}&end_time=${(first + 10 * MIN) / 1000}`,
          headers: auth,
        });
        expect(res.statusCode).toBe(200);
        const body = res.json();
        expect(body.samples).toBe(10);
        const times = body.follower_count.map((p: { time: number }) => p.time);
        for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBe(60);
        const mean = body.follower_count.reduce((a: number, p: { value: number }) => a + p.value, 0) / 10;
        expect(body.average_follower_count).toBeCloseTo(mean, 6);
        expect(body.following_count[0].value).toBe(sim.profile(id, 0).followingCount);
      }
      const layout = h.sluice.registry.get('influencers').layout;
      const stored = await h.sluice.series.series(layout, {
        keys: {},
        fromUs: first * 1000,
        toUs: (first + 10 * MIN) * 1000,
        agg: 'count',
        limit: count * 10 + 1,
      });
      expect(stored.length).toBe(count * 10);
    },
    (10 * 60_000) / SCALE + 60_000,
  );

  it('counts missed samples when the provider fails, and raises provider_error', async () => {
    const clock = new ScaledClock(30);
    sim = new MockstagramSim({ clock, count: 20, errorRate: 1 });
    const url = await sim.listen();
    const sink = new RecordingSink();
    h = await startHarness({ config: withConnectors(poll(url, 20)), sluice: { clock, alertSink: sink } });
    await until(() => sink.kinds().includes('provider_error'), 20_000, 'a provider_error alert');
    await clockAt(clock, clock.now() + 2 * MIN);
    const view = (await h.app.inject({ url: '/v1/connectors/influencers', headers: auth })).json();
    expect(view.stats.samples.missed).toBeGreaterThan(0);
    expect(view.stats.errors.provider_error).toBeGreaterThan(0);
    sim.errorRate = 0;
    await until(() => sink.resolved.some((r) => r.kind === 'provider_error'), 20_000, 'recovery');
  }, 60_000);
});

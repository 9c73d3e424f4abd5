import { describe, expect, it } from 'vitest';
import { entityPollSchema, type EntityPollConfig } from '../../src/connectors/connector-config.js';
import type { CallRequest, ConnectorContext, Page } from '../../src/connectors/connector.js';
import { EntityPoll } from '../../src/connectors/entity-poll.js';
import { VirtualClock } from '../helpers/virtual-clock.js';

const MIN = 60_000;
/** A round boundary, so a first start at T0 owes every slot of its round. */
const T0 = 28_000_000 * MIN;

function config(count: number, concurrency = 8): EntityPollConfig {
  return entityPollSchema.parse({
    id: 'profiles',
    kind: 'entity-poll',
    dataset: 'influencers',
    url: 'http://provider.test/api/v1/influencers/{id}',
    entities: { range: { from: 100, count } },
    interval: '60s',
    concurrency,
    id_column: 'influencer_id',
    time_column: 'timestamp',
    fields: { follower_count: 'followerCount' },
  });
}

/** A host that answers every call at once (or as `answer` says) and remembers what it was asked. */
function fakeHost(clock: VirtualClock, answer?: (req: CallRequest) => Promise<void>) {
  const stop = new AbortController();
  const calls: { id: string; at: number }[] = [];
  const pages: Page[] = [];
  const samples = { ok: 0, late: 0, missed: 0 };
  const ctx: ConnectorContext = {
    id: 'profiles',
    clock,
    signal: stop.signal,
    call: async (req) => {
      const startedAt = clock.now();
      calls.push({ id: req.url.slice(req.url.lastIndexOf('/') + 1), at: startedAt });
      await answer?.(req);
      return { status: 200, body: { followerCount: 1_000 }, startedAt };
    },
    emit: async (page) => void pages.push(page),
    saveState: async () => {},
    countSamples: (outcome, n = 1) => void (samples[outcome] += n),
    observe: () => {},
    nextCallAt: () => clock.now(),
  };
  return { ctx, stop, calls, pages, samples };
}

async function runUntil(
  poll: EntityPoll,
  host: ReturnType<typeof fakeHost>,
  clock: VirtualClock,
  at: number,
) {
  const running = poll.run(host.ctx).catch((e: unknown) => {
    if (!(e instanceof Error && e.name === 'AbortError')) throw e;
  });
  await clock.advanceTo(at);
  host.stop.abort();
  await clock.advanceTo(at + MIN);
  await running;
}

describe('EntityPoll scheduling (virtual clock)', () => {
  it('samples every entity once a round, at its own slot, and stamps each row with the slot', async () => {
    const clock = new VirtualClock(T0);
    const host = fakeHost(clock);
    const poll = new EntityPoll(config(50), { keysOf: () => [] });
    await runUntil(poll, host, clock, T0 + 3 * MIN - 1);
    expect(host.calls).toHaveLength(150);
    const step = MIN / 50;
    host.calls.forEach((c, n) => {
      const round = Math.floor(n / 50);
      const slot = n % 50;
      expect(c.id).toBe(String(100 + slot));
      expect(c.at).toBeCloseTo(T0 + round * MIN + slot * step, 6);
    });
    const rows = host.pages.flatMap((p) => p.records);
    expect(rows).toHaveLength(150);
    expect(rows[51]).toEqual({ influencer_id: '101', timestamp: T0 + MIN + step, follower_count: 1_000 });
    expect(host.samples).toEqual({ ok: 150, late: 0, missed: 0 });
    expect(poll.state()).toEqual({ last_round: T0 + 2 * MIN });
  });

  it('after a restart, counts the rounds and slots it slept through as missed and goes on from the next slot', async () => {
    const clock = new VirtualClock(T0 + 2 * MIN + MIN / 2);
    const host = fakeHost(clock);
    const poll = new EntityPoll(config(50), { keysOf: () => [] });
    poll.restore({ last_round: T0 });
    await runUntil(poll, host, clock, T0 + 3 * MIN - 1);
    // Round T0+1min was never dispatched (50), and half of round T0+2min had passed (25).
    expect(host.samples.missed).toBe(75);
    expect(host.calls.map((c) => c.id)).toEqual(Array.from({ length: 25 }, (_, i) => String(125 + i)));
  });

  it('does not call for a slot it reaches more than half an interval late, and counts late starts', async () => {
    const clock = new VirtualClock(T0);
    // One call at a time; the first one hangs for 40 s, so slots 1-6 (due 6 … 36 s) wait behind it.
    const host = fakeHost(clock, async () => {
      if (clock.now() === T0) await clock.sleep(40_000);
    });
    const poll = new EntityPoll(config(10, 1), { keysOf: () => [] });
    await runUntil(poll, host, clock, T0 + MIN - 1);
    // At 40 s slot 1 is 34 s overdue (over 30 s: missed, not called); slots 2-6 start late; 0 and 7-9 on time.
    expect(host.calls.map((c) => c.id)).toEqual([
      '100',
      '102',
      '103',
      '104',
      '105',
      '106',
      '107',
      '108',
      '109',
    ]);
    expect(host.samples).toEqual({ ok: 4, late: 5, missed: 1 });
    expect(poll.describe().jitter_ms).toMatchObject({ count: 9, within_late_after_share: 4 / 9 });
  });
});

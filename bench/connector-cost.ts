/**
 * Cost and latency of the cursor-feed schedule against the telematics traffic model, at accelerated
 * time: 1 simulated hour of traffic plus a 15-minute pause of the connector (minutes 30–45), so 75
 * simulated minutes. The anchor, in the same run and on the same traffic (same seed), is the fixed plan
 * "one call every 5 seconds". Both go through the real host runner (100 calls/min cap, backoff, stats)
 * and real HTTP to the simulator; pages are "stored" when written to memory, so the figures are the
 * schedule's, not the storage's.
 *
 * Reported: calls, cost, empty-call share, calls over the minimum (ceil(packets / page)), p50/p99/max
 * latency from packet release to storage (all packets, and outside the pause and its catch-up), the
 * backlog drain time after the pause, and the most calls seen by the provider in any minute.
 *
 * Run: npm run bench -- connector-cost [--speed 60] [--scale 1] [--page 250] [--latency-target 60]
 * (`--scale 0.1 --page 25` keeps the call arithmetic at a tenth of the volume).
 */
import { ScaledClock, type Clock } from '../src/connectors/clock.js';
import type { Connector, ConnectorContext, JsonValue } from '../src/connectors/connector.js';
import { CursorFeed } from '../src/connectors/cursor-feed.js';
import type { ConnectorRunner } from '../src/connectors/connector-runner.js';
import { TelematicsSim } from '../src/sim/telematics-sim.js';
import { SqliteMetaStore } from '../src/store/sqlite/sqlite-meta-store.js';
import { numberArg } from './lib/args.js';
import { benchRunner, quantiles } from './lib/connector-bench.js';
import { benchTempDir } from './lib/temp-dir.js';

const SPEED = numberArg('speed', 60);
const SCALE = numberArg('scale', 1);
const PAGE = numberArg('page', 250);
const LATENCY_TARGET_S = numberArg('latency-target', 60);
const MIN = 60_000;
const PAUSE_FROM = 30 * MIN;
const PAUSE_TO = 45 * MIN;
const TRAFFIC_END = 75 * MIN;

/** The anchor: poll every 5 s whatever the pages say. */
class FixedInterval implements Connector {
  readonly kind = 'fixed-interval';
  private cursor = '0';
  constructor(private readonly url: string) {}
  state(): JsonValue {
    return { cursor: this.cursor };
  }
  restore(): void {}
  describe(): Record<string, JsonValue> {
    return { cursor: this.cursor };
  }
  async probe() {
    return { ok: true, detail: '' };
  }
  async run(ctx: ConnectorContext): Promise<void> {
    while (!ctx.signal.aborted) {
      const res = await ctx.call({ url: `${this.url}?since=${this.cursor}&limit=${PAGE}` });
      if (res) {
        const body = res.body as { packets: Record<string, unknown>[]; next_cursor: string };
        if (body.packets.length > 0) await ctx.emit({ records: body.packets, pageId: null });
        this.cursor = body.next_cursor;
        ctx.observe(body.packets.length);
      }
      await ctx.clock.sleep(5_000, ctx.signal);
    }
  }
}

interface Plan {
  name: string;
  sim: TelematicsSim;
  runner: ConnectorRunner;
  latencies: number[];
  /** Release and storage time of each packet, to tell the pause's delay from the schedule's. */
  released: number[];
  stored: number[];
  resumedAt: number | null;
  drainedAt: number | null;
  backlog: number;
  fetched: number;
}

async function plan(
  name: string,
  clock: Clock,
  start: number,
  meta: SqliteMetaStore,
  fixed: boolean,
): Promise<Plan> {
  const sim = new TelematicsSim({ clock, scale: SCALE, maxPerCall: PAGE, seed: 42 });
  sim.endTrafficAt(start + TRAFFIC_END);
  const url = `${await sim.listen()}/v1/packets`;
  const p: Partial<Plan> = {
    name,
    sim,
    latencies: [],
    released: [],
    stored: [],
    resumedAt: null,
    drainedAt: null,
    backlog: 0,
    fetched: 0,
  };
  p.runner = benchRunner({
    input: {
      id: name,
      kind: 'cursor-feed',
      dataset: 'telematics',
      url,
      credentials: { header: 'authorization', value: 'Bearer sim-token' },
      rate_limit: { calls: 100, per: '1m' },
      cost_per_call: 0.1,
      page_size: PAGE,
      records_path: 'packets',
      time_path: 'rtc_time',
      latency_target: `${LATENCY_TARGET_S}s`,
    },
    connector: (config) => (fixed ? new FixedInterval(url) : new CursorFeed(config as never)),
    clock,
    meta,
    writer: () => ({
      write: async (_dataset, ndjson) => {
        const now = clock.now();
        const lines = ndjson.toString('utf8').trimEnd().split('\n');
        for (const line of lines) {
          const rtc = (JSON.parse(line) as { rtc_time: number }).rtc_time;
          p.latencies!.push((now - rtc) / 1000);
          p.released!.push(rtc);
          p.stored!.push(now);
        }
        p.fetched! += lines.length;
        return { rows: { total: lines.length, invalid: 0 } };
      },
    }),
  });
  await meta.putConnector({ id: name, origin: 'api', config: {}, sealedCredentials: null, paused: false });
  return p as Plan;
}

async function main(): Promise<void> {
  const tmp = benchTempDir();
  const meta = new SqliteMetaStore({ path: `${tmp.dir}/meta.sqlite` });
  await meta.init();
  const clock = new ScaledClock(SPEED);
  const start = clock.now();
  const plans = [
    await plan('adaptive', clock, start, meta, false),
    await plan('fixed_5s', clock, start, meta, true),
  ];
  for (const p of plans) p.runner.start();
  let paused = false;
  let resumed = false;
  const end = start + TRAFFIC_END;
  // Run the 75 minutes, then give each plan up to 30 more minutes to fetch what was released.
  while (clock.now() < end + 30 * MIN) {
    await new Promise((r) => setTimeout(r, 20));
    const now = clock.now();
    if (!paused && now >= start + PAUSE_FROM) {
      paused = true;
      for (const p of plans) p.runner.pause();
    }
    if (!resumed && now >= start + PAUSE_TO) {
      resumed = true;
      for (const p of plans) {
        p.sim.advance(now);
        p.backlog = p.sim.packets.length;
        p.resumedAt = now;
        p.runner.resume();
      }
    }
    for (const p of plans)
      if (p.resumedAt !== null && p.drainedAt === null && p.fetched >= p.backlog) p.drainedAt = clock.now();
    if (now >= end && plans.every((p) => (p.sim.advance(end), p.fetched >= p.sim.packets.length))) break;
  }
  for (const p of plans) await p.runner.stop();
  const total = plans[0]!.sim.packets.length;
  const minCalls = Math.ceil(total / PAGE);
  /**
   * Latency the schedule is answerable for: packets fetched before the pause began, or released after
   * the catch-up ended. The rest waited for the pause (the feed is served in order) and are reported in
   * the drain time.
   */
  const steady = (p: Plan) =>
    p.latencies.filter((_, i) => {
      const pauseAt = start + PAUSE_FROM;
      return p.stored[i]! < pauseAt || (p.drainedAt !== null && p.released[i]! > p.drainedAt);
    });
  const report = (p: Plan) => ({
    calls: p.sim.stats.calls,
    cost_cents: p.sim.stats.cost_cents,
    empty_call_share: Math.round((p.sim.stats.empty / Math.max(1, p.sim.stats.calls)) * 1000) / 1000,
    calls_over_minimum: Math.round((p.sim.stats.calls / minCalls) * 1000) / 1000,
    packets_fetched: p.fetched,
    complete: p.fetched >= p.sim.packets.length,
    latency_s: quantiles(p.latencies),
    latency_outside_pause_s: quantiles(steady(p)),
    drain_s:
      p.drainedAt === null || p.resumedAt === null
        ? null
        : Math.round((p.drainedAt - p.resumedAt) / 100) / 10,
    max_calls_per_minute: p.sim.stats.max_calls_per_minute,
    rate_limited: p.sim.stats.rate_limited,
  });
  const [adaptive, fixed] = plans.map(report);
  process.stdout.write(
    JSON.stringify({
      bench: 'connector-cost',
      speed: SPEED,
      scale: SCALE,
      page: PAGE,
      simulated_minutes: 75,
      pause_minutes: 15,
      latency_target_s: LATENCY_TARGET_S,
      packets: total,
      min_calls: minCalls,
      adaptive,
      fixed_5s: fixed,
      cost_ratio: Math.round((adaptive!.cost_cents / Math.max(0.001, fixed!.cost_cents)) * 1000) / 1000,
    }) + '\n',
  );
  for (const p of plans) await p.sim.close();
  await meta.close();
  tmp.remove();
}

await main();

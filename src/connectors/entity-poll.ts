import { durationMs } from '../core/duration.js';
import { QuantileSketch } from '../query/quantile-sketch.js';
import type { EntityPollConfig } from './connector-config.js';
import type { Connector, ConnectorContext, JsonValue } from './connector.js';
import { readPath } from './json-path.js';
import { RoundSlots } from './round-slots.js';
import { SlotDispatcher } from './slot-dispatcher.js';

/** Where the ids of an entity poll over a dataset's keys come from. */
export interface EntitySource {
  keysOf(dataset: string, keyColumn: string): string[];
}

/** Samples written per page, and the longest a sample waits for its page (clock ms). */
const PAGE_RECORDS = 2_000;
const PAGE_WAIT_MS = 1_000;
/**
 * Real milliseconds between two wake-ups of the dispatcher. A sample starts up to this much after its
 * slot, far inside `late_after`; slots that fall due within one tick go out together.
 */
const DISPATCH_TICK_REAL_MS = 10;

/**
 * Polls every entity once per `interval`, at its own offset: entity i of N is due at
 * `round start + i·interval/N` (`RoundSlots`), so calls are spread evenly over the interval instead of
 * bursting at its start. A `SlotDispatcher` starts the due slots once a tick, at most `concurrency` calls
 * in flight (on kept-alive sockets). A sample is stamped with its slot time, so the series keeps its
 * resolution whatever the network does; one that starts more than `late_after` after its slot is late,
 * and one that has not succeeded by the middle of the next interval is missed (counted, not retried
 * further, and not started at all if the dispatcher reaches it that late).
 */
export class EntityPoll implements Connector {
  readonly kind = 'entity-poll';
  private readonly intervalMs: number;
  private readonly lateAfterMs: number;
  /** A sample not started, or not answered, this long after its slot is missed: half an interval. */
  private readonly missedAfterMs: number;
  /** The URL template split at `{id}`, and the response paths of the fields, worked out once. */
  private readonly urlParts: readonly string[];
  private readonly fieldPaths: readonly (readonly [column: string, path: string])[];
  /** Start of the last round fully dispatched. */
  private lastRound: number | null = null;
  private readonly jitter = new QuantileSketch();
  private withinLate = 0;
  private entityCount = 0;
  private rangeIds: string[] | null = null;

  constructor(
    private readonly config: EntityPollConfig,
    private readonly entities: EntitySource,
  ) {
    this.intervalMs = durationMs(config.interval);
    this.lateAfterMs = durationMs(config.late_after);
    this.missedAfterMs = this.intervalMs / 2;
    this.urlParts = config.url.split('{id}');
    this.fieldPaths = Object.entries(config.fields);
  }

  state(): JsonValue {
    return { last_round: this.lastRound };
  }

  restore(state: JsonValue): void {
    const s = state as { last_round?: number | null } | null;
    if (s && typeof s.last_round === 'number') this.lastRound = s.last_round;
  }

  describe(): Record<string, JsonValue> {
    const n = this.jitter.count;
    return {
      entities: this.entityCount,
      interval_ms: this.intervalMs,
      last_round: this.lastRound === null ? null : new Date(this.lastRound).toISOString(),
      jitter_ms: {
        count: n,
        p50: n > 0 ? Math.round(this.jitter.quantile(0.5)) : null,
        p99: n > 0 ? Math.round(this.jitter.quantile(0.99)) : null,
        within_late_after_share: n > 0 ? this.withinLate / n : null,
      },
    };
  }

  async probe(ctx: ConnectorContext): Promise<{ ok: boolean; detail: string }> {
    const first = this.ids()[0];
    if (first === undefined) return { ok: false, detail: 'no entities to poll' };
    const res = await ctx.call({ url: this.urlOf(first) });
    return res
      ? { ok: true, detail: `HTTP ${res.status} for entity ${first}` }
      : { ok: false, detail: 'the probe call failed' };
  }

  async run(ctx: ConnectorContext): Promise<void> {
    const { clock, signal } = ctx;
    const page = new PageBuffer(ctx);
    const dispatcher = new SlotDispatcher({
      clock,
      signal,
      concurrency: this.config.concurrency,
      tickMs: DISPATCH_TICK_REAL_MS / clock.realMs(1),
      giveUpAfterMs: this.missedAfterMs,
    });
    const expired = () => ctx.countSamples('missed');
    const startedAt = clock.now();
    let round = Math.floor(startedAt / this.intervalMs) * this.intervalMs;
    // Rounds that passed while we were down are missed samples, and so are the slots of this round that
    // passed already. A first start begins with the next slot due: nothing was promised before it.
    const resumed = this.lastRound !== null;
    let persisting: Promise<void> = Promise.resolve();
    if (this.lastRound !== null && round > this.lastRound + this.intervalMs) {
      const skipped = Math.floor((round - this.lastRound) / this.intervalMs) - 1;
      ctx.countSamples('missed', skipped * this.ids().length);
    }
    try {
      while (!signal.aborted) {
        const ids = this.ids();
        this.entityCount = ids.length;
        const slots = new RoundSlots(round, ids.length, this.intervalMs);
        const from = slots.dueBefore(startedAt);
        if (resumed && from > 0) ctx.countSamples('missed', from);
        await dispatcher.dispatch(slots, from, (i, due) => this.sample(ctx, ids[i]!, due, page), expired);
        this.lastRound = round;
        round += this.intervalMs;
        // The round's state is saved behind the next round's first slots, not in front of them: a slow
        // fsync must not make them late. A failure surfaces here one round later, and run() fails then.
        await persisting;
        persisting = page.flush().then(() => ctx.saveState());
        // Handled now (an unhandled rejection would end the process), thrown by the await above.
        void persisting.catch(() => undefined);
        const wait = round - clock.now();
        if (wait > 0) await clock.sleep(wait, signal);
      }
    } finally {
      await dispatcher.drain();
      await persisting.catch(() => undefined);
      await page.flush().catch(() => undefined);
    }
  }

  /** One sample; never rejects: a failure is a missed sample, and stopping is no sample at all. */
  private async sample(ctx: ConnectorContext, id: string, due: number, page: PageBuffer): Promise<void> {
    try {
      const res = await ctx.call({ url: this.urlOf(id), deadline: due + this.missedAfterMs });
      if (!res) {
        ctx.countSamples('missed');
        return;
      }
      const jitter = Math.abs(res.startedAt - due);
      this.jitter.add(jitter);
      if (jitter <= this.lateAfterMs) this.withinLate++;
      ctx.countSamples(res.startedAt - due > this.lateAfterMs ? 'late' : 'ok');
      const record: Record<string, unknown> = { [this.config.id_column]: id, [this.config.time_column]: due };
      for (const [column, path] of this.fieldPaths) record[column] = readPath(res.body, path);
      page.add(record, ctx.clock.now());
    } catch {
      if (!ctx.signal.aborted) ctx.countSamples('missed');
    }
  }

  /** This round's entities: a range or a list is fixed, a dataset's keys are read again every round. */
  private ids(): readonly string[] {
    const e = this.config.entities;
    if ('range' in e)
      return (this.rangeIds ??= Array.from({ length: e.range.count }, (_, i) => String(e.range.from + i)));
    if ('list' in e) return e.list;
    return this.entities.keysOf(e.dataset, e.key);
  }

  private urlOf(id: string): string {
    return this.urlParts.join(encodeURIComponent(id));
  }
}

/** Gathers samples into pages, so the BatchLog sees a few writes per second, not one per entity. */
class PageBuffer {
  private records: Record<string, unknown>[] = [];
  private times: number[] = [];
  private writing: Promise<void> = Promise.resolve();
  private timer: Promise<void> | null = null;

  constructor(private readonly ctx: ConnectorContext) {}

  add(record: Record<string, unknown>, at: number): void {
    this.records.push(record);
    this.times.push(at);
    if (this.records.length >= PAGE_RECORDS) void this.flush();
    else
      this.timer ??= this.ctx.clock.sleep(PAGE_WAIT_MS, this.ctx.signal).then(
        () => this.flush(),
        () => undefined,
      );
  }

  /** Writes what is gathered; pages are written one after another, in order. */
  flush(): Promise<void> {
    this.timer = null;
    if (this.records.length === 0) return this.writing;
    const records = this.records;
    const availableAt = this.times;
    this.records = [];
    this.times = [];
    this.writing = this.writing.then(async () => {
      await this.ctx.emit({ records, pageId: null, availableAt });
      this.ctx.observe(records.length);
    });
    return this.writing;
  }
}

import { durationMs } from '../core/duration.js';
import { QuantileSketch } from '../query/quantile-sketch.js';
import type { EntityPollConfig } from './connector-config.js';
import type { Connector, ConnectorContext, JsonValue } from './connector.js';
import { readPath } from './json-path.js';

/** Where the ids of an entity poll over a dataset's keys come from. */
export interface EntitySource {
  keysOf(dataset: string, keyColumn: string): string[];
}

/** Samples written per page, and the longest a sample waits for its page (clock ms). */
const PAGE_RECORDS = 2_000;
const PAGE_WAIT_MS = 1_000;

/**
 * Polls every entity once per `interval`, at its own offset: entity i of N is due at
 * `round start + i·interval/N`, so calls are spread evenly over the interval instead of bursting at its
 * start. At most `concurrency` calls are in flight (on kept-alive sockets). A sample is stamped with its
 * slot time, so the series keeps its resolution whatever the network does; one that starts more than
 * `late_after` after its slot is late, and one that has not succeeded by the middle of the next interval
 * is missed (counted, not retried further).
 */
export class EntityPoll implements Connector {
  readonly kind = 'entity-poll';
  private readonly intervalMs: number;
  private readonly lateAfterMs: number;
  /** Start of the last round fully dispatched. */
  private lastRound: number | null = null;
  private readonly jitter = new QuantileSketch();
  private withinLate = 0;
  private entityCount = 0;

  constructor(
    private readonly config: EntityPollConfig,
    private readonly entities: EntitySource,
  ) {
    this.intervalMs = durationMs(config.interval);
    this.lateAfterMs = durationMs(config.late_after);
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
    const inFlight = new Set<Promise<void>>();
    const startedAt = clock.now();
    let round = Math.floor(startedAt / this.intervalMs) * this.intervalMs;
    // Rounds that passed while we were down are missed samples, and so are the slots of this round that
    // passed already. A first start begins with the next slot due: nothing was promised before it.
    const resumed = this.lastRound !== null;
    if (this.lastRound !== null && round > this.lastRound + this.intervalMs) {
      const skipped = Math.floor((round - this.lastRound) / this.intervalMs) - 1;
      ctx.countSamples('missed', skipped * this.ids().length);
    }
    try {
      while (!signal.aborted) {
        const ids = this.ids();
        this.entityCount = ids.length;
        const step = ids.length > 0 ? this.intervalMs / ids.length : this.intervalMs;
        for (let i = 0; i < ids.length && !signal.aborted; i++) {
          const due = round + i * step;
          if (due < startedAt) {
            if (resumed) ctx.countSamples('missed');
            continue;
          }
          // Timers fire no finer than a millisecond; samples due within one go out together.
          const wait = due - clock.now();
          if (clock.realMs(wait) >= 1) await clock.sleep(wait, signal);
          while (inFlight.size >= this.config.concurrency) await Promise.race(inFlight);
          const p = this.sample(ctx, ids[i]!, due, page)
            .catch(() => {
              if (!signal.aborted) ctx.countSamples('missed');
            })
            .finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        this.lastRound = round;
        round += this.intervalMs;
        await page.flush();
        await ctx.saveState();
        const wait = round - clock.now();
        if (wait > 0) await clock.sleep(wait, signal);
      }
    } finally {
      await Promise.allSettled(inFlight);
      await page.flush().catch(() => undefined);
    }
  }

  private async sample(ctx: ConnectorContext, id: string, due: number, page: PageBuffer): Promise<void> {
    const res = await ctx.call({ url: this.urlOf(id), deadline: due + this.intervalMs / 2 });
    if (!res) {
      ctx.countSamples('missed');
      return;
    }
    const jitter = Math.abs(res.startedAt - due);
    this.jitter.add(jitter);
    if (jitter <= this.lateAfterMs) this.withinLate++;
    ctx.countSamples(res.startedAt - due > this.lateAfterMs ? 'late' : 'ok');
    const record: Record<string, unknown> = { [this.config.id_column]: id, [this.config.time_column]: due };
    for (const [column, path] of Object.entries(this.config.fields))
      record[column] = readPath(res.body, path);
    page.add(record, ctx.clock.now());
  }

  private ids(): string[] {
    const e = this.config.entities;
    if ('range' in e) return Array.from({ length: e.range.count }, (_, i) => String(e.range.from + i));
    if ('list' in e) return e.list;
    return this.entities.keysOf(e.dataset, e.key);
  }

  private urlOf(id: string): string {
    return this.config.url.replaceAll('{id}', encodeURIComponent(id));
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

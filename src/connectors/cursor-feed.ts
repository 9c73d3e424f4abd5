import { createHash } from 'node:crypto';
import { durationMs } from '../core/duration.js';
import type { CursorFeedConfig } from './connector-config.js';
import type { Connector, ConnectorContext, JsonValue } from './connector.js';
import { FeedSchedule } from './feed-schedule.js';
import { readPath, timeOfValue } from './json-path.js';

/** A fetched page being written: where it starts, how many records it holds, where the next starts. */
interface InflightPage {
  since: string;
  count: number;
  next: string;
  written?: boolean;
}

interface FeedState {
  /** Everything before this cursor is durable in the BatchLog. */
  cursor: string;
  /**
   * Pages fetched after `cursor` whose writes may not have finished, in order. Each is recorded before
   * its write starts; after a crash each is fetched again with `limit = count`, so it comes back as the
   * same page with the same page id and is applied once, however much more the feed holds by then.
   */
  inflight: InflightPage[];
}

/** Pages written at once: the next page is fetched while earlier ones wait for their fsync. */
const WRITE_DEPTH = 4;

/**
 * Polls `GET {url}?{since}={cursor}&{limit}={n}` and follows the cursor. The schedule (FeedSchedule)
 * keeps pages full and calls few, within the latency target; the host's limiter keeps it under the cap.
 */
export class CursorFeed implements Connector {
  readonly kind = 'cursor-feed';
  private s: FeedState;
  private readonly schedule: FeedSchedule;
  private lastDelayMs = 0;
  private readonly maxIntervalMs: number;

  constructor(private readonly config: CursorFeedConfig) {
    this.s = { cursor: config.initial_cursor, inflight: [] };
    this.maxIntervalMs = config.max_interval
      ? durationMs(config.max_interval)
      : durationMs(config.latency_target) / 2;
    this.schedule = new FeedSchedule(config.page_size, this.maxIntervalMs);
  }

  state(): JsonValue {
    return {
      cursor: this.s.cursor,
      inflight: this.s.inflight.map((p) => ({ since: p.since, count: p.count, next: p.next })),
    };
  }

  restore(state: JsonValue): void {
    const s = state as Partial<FeedState> | null;
    if (s && typeof s.cursor === 'string')
      this.s = { cursor: s.cursor, inflight: Array.isArray(s.inflight) ? s.inflight : [] };
  }

  describe(): Record<string, JsonValue> {
    return {
      cursor: this.s.cursor,
      pages_in_flight: this.s.inflight.length,
      next_poll_in_ms: Math.round(this.lastDelayMs),
      arrival_rate_per_s: this.schedule.ratePerSecond,
      max_interval_ms: this.maxIntervalMs,
    };
  }

  async probe(ctx: ConnectorContext): Promise<{ ok: boolean; detail: string }> {
    const res = await ctx.call({ url: this.urlFor(this.s.cursor, 1), deadline: ctx.clock.now() });
    if (!res) return { ok: false, detail: 'the probe call failed; see errors and stoppages' };
    const records = readPath(res.body, this.config.records_path);
    return Array.isArray(records)
      ? { ok: true, detail: `HTTP ${res.status}, ${records.length} record(s) at the cursor` }
      : { ok: false, detail: `HTTP ${res.status}, but no record array at '${this.config.records_path}'` };
  }

  async run(ctx: ConnectorContext): Promise<void> {
    const { config } = this;
    // Pages that were being written when the process stopped are fetched again first, as they were.
    const replay = this.s.inflight.map((p) => ({ ...p, written: false }));
    this.s.inflight = [];
    const writes = new Set<Promise<void>>();
    try {
      while (!ctx.signal.aborted) {
        const again = replay.shift();
        const since = again?.since ?? this.fetchPosition();
        const limit = again?.count ?? config.page_size;
        const res = await ctx.call({ url: this.urlFor(since, limit) });
        if (!res) continue;
        const records = readPath(res.body, config.records_path);
        const next = readPath(res.body, config.cursor_path);
        if (!Array.isArray(records))
          throw new Error(`the response has no record array at '${config.records_path}'`);
        const rows = records.filter((r): r is Record<string, unknown> => r !== null && typeof r === 'object');
        const times = config.time_path ? rows.map((r) => timeOfValue(readPath(r, config.time_path!))) : [];
        const availableAt = times.every((t) => t !== undefined) ? (times as number[]) : undefined;
        if (records.length > 0) {
          if (next === undefined || next === null)
            throw new Error(`the response has records but no cursor at '${config.cursor_path}'`);
          while (writes.size >= WRITE_DEPTH) await Promise.race(writes);
          const page: InflightPage = { since, count: records.length, next: String(next as string | number) };
          this.s.inflight.push(page);
          await ctx.saveState();
          const write = ctx
            .emit({ records: rows, pageId: pageIdOf(since, records.length), availableAt })
            .then(() => this.written(ctx, page))
            .finally(() => writes.delete(write));
          writes.add(write);
        } else if (next !== undefined && next !== null && this.s.inflight.length === 0) {
          const moved = String(next as string | number);
          if (moved !== this.s.cursor) {
            this.s.cursor = moved;
            await ctx.saveState();
          }
        }
        ctx.observe(records.length);
        // A replayed page was cut to its old size: whatever followed it is still waiting.
        const full = again !== undefined || records.length >= config.page_size;
        this.lastDelayMs = this.schedule.afterPage(
          ctx.clock.now(),
          full ? config.page_size : records.length,
          availableAt?.[availableAt.length - 1],
          availableAt?.[0],
        );
        await ctx.clock.sleep(this.lastDelayMs, ctx.signal);
      }
    } finally {
      // Stopping: let started writes finish (they are quick unless the pipeline is failing, and then
      // they end with the abort); unfinished pages stay in the state and are fetched again next time.
      await Promise.allSettled(writes);
    }
  }

  /** Where the next page starts: after the last page fetched. */
  private fetchPosition(): string {
    return this.s.inflight.at(-1)?.next ?? this.s.cursor;
  }

  /** A page is durable; the cursor moves over every durable page at the front, in order. */
  private async written(ctx: ConnectorContext, page: InflightPage): Promise<void> {
    page.written = true;
    let moved = false;
    while (this.s.inflight[0]?.written) {
      this.s.cursor = this.s.inflight.shift()!.next;
      moved = true;
    }
    if (moved) await ctx.saveState();
  }

  private urlFor(since: string, limit: number): string {
    const u = new URL(this.config.url);
    if (since !== '') u.searchParams.set(this.config.params.since, since);
    u.searchParams.set(this.config.params.limit, String(limit));
    return u.toString();
  }
}

/** Short, deterministic, safe in a batch id: the cursor may hold any characters. */
function pageIdOf(since: string, count: number): string {
  return `${createHash('sha256').update(since).digest('base64url').slice(0, 16)}-${count}`;
}

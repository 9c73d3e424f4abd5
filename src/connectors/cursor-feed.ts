import { createHash } from 'node:crypto';
import { durationMs } from '../core/duration.js';
import type { CursorFeedConfig } from './connector-config.js';
import type { Connector, ConnectorContext, JsonValue } from './connector.js';
import { FeedSchedule } from './feed-schedule.js';
import { readPath, timeOfValue } from './json-path.js';

interface FeedState {
  cursor: string;
  /**
   * The page being written: (since, count). Written before the page and cleared after the cursor moves,
   * so that after a crash the same page is fetched again with `limit = count`, gets the same page id,
   * and is applied once however much more the feed holds by then.
   */
  inflight: { since: string; count: number } | null;
}

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
    this.s = { cursor: config.initial_cursor, inflight: null };
    this.maxIntervalMs = config.max_interval
      ? durationMs(config.max_interval)
      : durationMs(config.latency_target) / 2;
    this.schedule = new FeedSchedule(config.page_size, this.maxIntervalMs);
  }

  state(): JsonValue {
    return { cursor: this.s.cursor, inflight: this.s.inflight };
  }

  restore(state: JsonValue): void {
    const s = state as Partial<FeedState> | null;
    if (s && typeof s.cursor === 'string') this.s = { cursor: s.cursor, inflight: s.inflight ?? null };
  }

  describe(): Record<string, JsonValue> {
    return {
      cursor: this.s.cursor,
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
    while (!ctx.signal.aborted) {
      const replay = this.s.inflight;
      const since = replay?.since ?? this.s.cursor;
      const limit = replay?.count ?? config.page_size;
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
        this.s.inflight = { since, count: records.length };
        await ctx.saveState();
        await ctx.emit({ records: rows, pageId: pageIdOf(since, records.length), availableAt });
        this.s = { cursor: String(next as string | number), inflight: null };
        await ctx.saveState();
      } else if (next !== undefined && next !== null && String(next as string | number) !== this.s.cursor) {
        this.s.cursor = String(next as string | number);
        await ctx.saveState();
      }
      ctx.observe(records.length);
      // A replayed page was cut to its old size: whatever followed it is still waiting.
      const full = replay !== null || records.length >= config.page_size;
      const now = ctx.clock.now();
      this.lastDelayMs = this.schedule.afterPage(
        now,
        full ? config.page_size : records.length,
        availableAt?.[availableAt.length - 1],
      );
      await ctx.clock.sleep(this.lastDelayMs, ctx.signal);
    }
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

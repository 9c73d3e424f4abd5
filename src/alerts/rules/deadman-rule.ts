import type { AppliedBatch } from '../../apply/applier.js';
import { HolidayCalendar } from '../../calendar/holiday-calendar.js';
import { SeasonalBaseline, type SeasonalBaselineState } from '../../calendar/seasonal-baseline.js';
import { durationMs } from '../../core/duration.js';
import type { DeadmanRuleSpec } from '../alert-config.js';
import { bucketedAggregate, checkColumns, groupKeyOf } from '../window-reader.js';
import { fmt, GroupStates, type AlertRule, type Evaluation, type RuleDeps, type Verdict } from './rule.js';

const HOUR_MS = 3_600_000;
/** History a new rule learns from: two weeks, so every hour of the week is seen twice. */
const PRIME_MS = 14 * 24 * HOUR_MS;

interface GroupState {
  baseline: SeasonalBaseline;
  labels: Record<string, string>;
  /** Latest event time seen (rows without a time count at their arrival). */
  lastSeenMs: number;
}

/**
 * Fires when a series, source or dataset goes silent while the seasonal (hour-of-week) baseline says
 * rows should have arrived, the same baseline connector stoppage detection uses. Hours that fall on a
 * holiday of the rule's calendar expect nothing, so a quiet holiday does not page. Learning follows
 * event time, so a backfill of history teaches the baseline at once.
 */
export class DeadmanRule implements AlertRule {
  private readonly groups = new GroupStates<GroupState>();
  private readonly afterMs: number;
  private readonly calendar: HolidayCalendar;
  private readonly groupBy: readonly string[];

  constructor(
    readonly spec: DeadmanRuleSpec,
    private readonly deps: RuleDeps,
  ) {
    const { layout } = deps.registry.get(spec.dataset);
    this.groupBy =
      spec.per === 'series' ? (spec.group_by.length ? spec.group_by : layout.keys.map((k) => k.name)) : [];
    checkColumns(layout, undefined, this.groupBy);
    this.afterMs = durationMs(spec.after);
    this.calendar = new HolidayCalendar({
      country: spec.holidays?.country,
      state: spec.holidays?.state,
      extraDates: spec.holidays?.dates,
    });
  }

  restore(states: ReadonlyMap<string, unknown>): void {
    this.groups.restore(states, (v) => {
      const s = v as { baseline: SeasonalBaselineState; labels: Record<string, string>; lastSeenMs: number };
      return { baseline: new SeasonalBaseline(s.baseline), labels: s.labels, lastSeenMs: s.lastSeenMs };
    });
  }

  /**
   * A new rule learns the hourly counts of the last two weeks from the store, so it can judge at once.
   * The last row's time is taken as the end of its hour (never later than now): a silence is then
   * under- rather than overestimated. Per-source rules cannot (the store does not keep the client).
   * Rows whose counted field is missing are not counted.
   */
  async prime(now: number): Promise<void> {
    const { layout } = this.deps.registry.get(this.spec.dataset);
    // Rows are counted through a field column; a dataset without one (JSON payloads only) learns live.
    if (this.spec.per === 'source' || layout.fields.length === 0) return;
    const hourly = await bucketedAggregate(
      this.deps.series,
      { layout, agg: 'count', where: {}, groupBy: this.groupBy, fromMs: now - PRIME_MS, toMs: now },
      HOUR_MS,
    );
    for (const [key, g] of hourly) {
      const baseline = new SeasonalBaseline();
      let last = -Infinity;
      for (const hour of [...g.buckets.keys()].sort((a, b) => a - b)) {
        const n = g.buckets.get(hour)!.n;
        if (n > 0) {
          baseline.observe(hour, n);
          last = Math.min(now, hour + HOUR_MS);
        }
      }
      if (Number.isFinite(last)) this.groups.set(key, { baseline, labels: g.labels, lastSeenMs: last });
    }
  }

  takeDirty(): Map<string, unknown> {
    return this.groups.take((g) => ({
      baseline: g.baseline.toJSON(),
      labels: g.labels,
      lastSeenMs: g.lastSeenMs,
    }));
  }

  onBatch(applied: AppliedBatch, now: number): void {
    const { layout, batch, keep, client } = applied;
    if (layout.spec.name !== this.spec.dataset || batch.length === 0) return;
    const cols = this.groupBy.map((k) => batch.keys[layout.keys.findIndex((c) => c.name === k)]!);
    // Rows per group and hour, so the baseline sees each hour's count in time order. Rows are keyed
    // by their raw key values (no allocation for one column); labels are built once per group.
    const perGroup = new Map<string, { row: number; hours: Map<number, number>; last: number }>();
    for (let r = 0; r < batch.length; r++) {
      if (keep && keep[r] === 0) continue;
      const raw =
        cols.length === 0 ? '' : cols.length === 1 ? cols[0]![r]! : cols.map((c) => c[r]!).join('\u001f');
      const t = batch.timeUs ? Math.floor(batch.timeUs[r]! / 1000) : now;
      let g = perGroup.get(raw);
      if (!g) perGroup.set(raw, (g = { row: r, hours: new Map(), last: -Infinity }));
      const hour = Math.floor(t / HOUR_MS) * HOUR_MS;
      g.hours.set(hour, (g.hours.get(hour) ?? 0) + 1);
      if (t > g.last) g.last = t;
    }
    for (const g of perGroup.values()) {
      const labels: Record<string, string> = this.spec.per === 'source' ? { client: client ?? '' } : {};
      this.groupBy.forEach((k, i) => (labels[k] = cols[i]![g.row]!));
      const key = groupKeyOf(labels);
      const state = this.groups.get(key) ?? {
        baseline: new SeasonalBaseline(),
        labels,
        lastSeenMs: -Infinity,
      };
      for (const hour of [...g.hours.keys()].sort((a, b) => a - b))
        state.baseline.observe(hour, g.hours.get(hour)!);
      state.lastSeenMs = Math.max(state.lastSeenMs, g.last);
      this.groups.set(key, state);
    }
  }

  async evaluate(now: number): Promise<Evaluation> {
    const verdicts: Verdict[] = [];
    const who = this.spec.per === 'dataset' ? `dataset ${this.spec.dataset}` : null;
    for (const [groupKey, g] of this.groups.map) {
      const silentMs = now - g.lastSeenMs;
      const name = who ?? `${groupKey} in ${this.spec.dataset}`;
      const since = new Date(g.lastSeenMs).toISOString();
      if (silentMs < this.afterMs) {
        verdicts.push({
          groupKey,
          state: 'ok',
          value: silentMs / 1000,
          labels: g.labels,
          description: `${name} is live`,
        });
        continue;
      }
      const judged = g.baseline.judgeSilence(g.lastSeenMs, now, this.calendar, this.spec.min_expected);
      const holiday = this.calendar.holidayAt(now);
      let description = `no rows from ${name} since ${since}; the weekly baseline expected ${fmt(judged.expected)}`;
      if (!judged.unexpected && holiday) description += ` (quiet: ${holiday})`;
      else if (!judged.unexpected && judged.warmingUp) description += ' (baseline still learning)';
      verdicts.push({
        groupKey,
        state: judged.unexpected ? 'firing' : 'ok',
        value: silentMs / 1000,
        labels: g.labels,
        description,
      });
    }
    return { verdicts, resolveMissing: true };
  }
}

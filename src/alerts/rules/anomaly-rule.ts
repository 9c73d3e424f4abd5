import { durationMs } from '../../core/duration.js';
import type { AnomalyRuleSpec } from '../alert-config.js';
import { RobustBaseline, type BaselineState } from '../robust-baseline.js';
import { bucketedAggregate, checkColumns, finalize } from '../window-reader.js';
import { fmt, GroupStates, type AlertRule, type Evaluation, type RuleDeps, type Verdict } from './rule.js';

/** Closed buckets read per evaluation at most (a first start over old data, or a long pause). */
const MAX_BUCKETS_PER_EVALUATION = 2000;

interface GroupState {
  baseline: RobustBaseline;
  labels: Record<string, string>;
}

/**
 * Learns each series' normal level bucket by bucket (median and MAD, or EWMA) and fires when a closed
 * bucket's value is more than `sensitivity` scales away. Judges nothing during warm-up. Each bucket is
 * judged once, when it has closed; rows arriving later for a judged bucket do not re-judge it.
 */
export class AnomalyRule implements AlertRule {
  private readonly groups = new GroupStates<GroupState>();
  private readonly bucketMs: number;
  /** Start of the first bucket not judged yet. */
  private nextBucketMs: number | null = null;
  private cursorDirty = false;

  constructor(
    readonly spec: AnomalyRuleSpec,
    private readonly deps: RuleDeps,
  ) {
    checkColumns(deps.registry.get(spec.dataset).layout, spec.field, spec.group_by);
    this.bucketMs = durationMs(spec.bucket);
  }

  restore(states: ReadonlyMap<string, unknown>): void {
    const cursor = states.get('\u0000cursor') as { next: number } | undefined;
    if (cursor) this.nextBucketMs = cursor.next;
    const rest = new Map([...states].filter(([k]) => k !== '\u0000cursor'));
    this.groups.restore(rest, (v) => {
      const s = v as { baseline: BaselineState; labels: Record<string, string> };
      return { baseline: this.newBaseline(s.baseline), labels: s.labels };
    });
  }

  takeDirty(): Map<string, unknown> {
    const out = this.groups.take((g) => ({ baseline: g.baseline.state, labels: g.labels }));
    if (this.cursorDirty) out.set('\u0000cursor', { next: this.nextBucketMs });
    this.cursorDirty = false;
    return out;
  }

  async evaluate(now: number): Promise<Evaluation> {
    const s = this.spec;
    const step = this.bucketMs;
    const closedEnd = Math.floor(now / step) * step;
    // First run: learn from the history already stored, up to `history` buckets back.
    const from = Math.max(
      this.nextBucketMs ?? closedEnd - s.history * step,
      closedEnd - MAX_BUCKETS_PER_EVALUATION * step,
    );
    if (from >= closedEnd) return { verdicts: [], resolveMissing: false };
    const { layout } = this.deps.registry.get(s.dataset);
    const data = await bucketedAggregate(
      this.deps.series,
      { layout, field: s.field, agg: s.agg, where: {}, groupBy: s.group_by, fromMs: from, toMs: closedEnd },
      step,
    );
    // On a first run, history before the last closed bucket is only learnt, not judged one by one.
    const learnBefore = this.nextBucketMs === null ? closedEnd - step : from;
    const verdicts: Verdict[] = [];
    const keys = new Set([...this.groups.map.keys(), ...data.keys()]);
    for (const groupKey of keys) {
      const d = data.get(groupKey);
      let g = this.groups.get(groupKey);
      if (!g) g = { baseline: this.newBaseline(), labels: d!.labels };
      let touched = false;
      for (let t = from; t < closedEnd; t += step) {
        const part = d?.buckets.get(t);
        // An empty bucket is a count of 0; for other aggregates it has no value and is skipped.
        const value = part ? finalize(part, s.agg) : s.agg === 'count' ? 0 : null;
        if (value === null) continue;
        touched = true;
        if (t < learnBefore) {
          g.baseline.learn(value);
          continue;
        }
        const v = g.baseline.observe(value);
        if (v.warmingUp) continue;
        const what = `${s.agg}(${s.field ?? 'rows'}) per ${s.bucket}`;
        verdicts.push({
          groupKey,
          state: v.anomalous ? 'firing' : 'ok',
          value,
          labels: g.labels,
          at: t + step,
          description: v.anomalous
            ? `${what} was ${fmt(value)} at ${new Date(t).toISOString()}, outside the learnt range ${fmt(v.lower)}..${fmt(v.upper)} (score ${fmt(v.score)})`
            : `${what} is ${fmt(value)}, inside ${fmt(v.lower)}..${fmt(v.upper)}`,
        });
      }
      if (touched) this.groups.set(groupKey, g);
    }
    this.nextBucketMs = closedEnd;
    this.cursorDirty = true;
    return { verdicts, resolveMissing: false };
  }

  private newBaseline(state?: BaselineState): RobustBaseline {
    const s = this.spec;
    return new RobustBaseline(
      {
        method: s.method,
        history: s.history,
        warmup: s.warmup,
        sensitivity: s.sensitivity,
        direction: s.direction,
      },
      state,
    );
  }
}

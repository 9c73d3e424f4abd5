import { durationMs } from '../../core/duration.js';
import type { ThresholdRuleSpec } from '../alert-config.js';
import { aggregateWindow, checkColumns } from '../window-reader.js';
import { fmt, GroupStates, type AlertRule, type Evaluation, type RuleDeps, type Verdict } from './rule.js';

const COMPARE = {
  '>': (a: number, b: number) => a > b,
  '>=': (a: number, b: number) => a >= b,
  '<': (a: number, b: number) => a < b,
  '<=': (a: number, b: number) => a <= b,
} as const;

/**
 * `agg(field)` over the last `window`, per group, compared with `value`. The condition must hold on
 * every evaluation for `for` before the alert fires; the time it started holding is saved, so a
 * restart does not reset it.
 */
export class ThresholdRule implements AlertRule {
  private readonly pending = new GroupStates<number>();
  private readonly windowMs: number;
  private readonly forMs: number;

  constructor(
    readonly spec: ThresholdRuleSpec,
    private readonly deps: RuleDeps,
  ) {
    checkColumns(deps.registry.get(spec.dataset).layout, spec.field, [
      ...spec.group_by,
      ...Object.keys(spec.where ?? {}),
    ]);
    this.windowMs = durationMs(spec.window);
    this.forMs = durationMs(spec.for);
  }

  restore(states: ReadonlyMap<string, unknown>): void {
    this.pending.restore(states, (v) => (v as { since: number }).since);
  }

  async evaluate(now: number): Promise<Evaluation> {
    const s = this.spec;
    const { layout } = this.deps.registry.get(s.dataset);
    const values = await aggregateWindow(this.deps.series, {
      layout,
      field: s.field,
      agg: s.agg,
      where: s.where ?? {},
      groupBy: s.group_by,
      fromMs: now - this.windowMs,
      toMs: now,
    });
    // A count over a window without rows is 0, which `count < N` rules must see.
    if (s.agg === 'count' && s.group_by.length === 0 && !values.has(''))
      values.set('', { value: 0, labels: {} });
    const verdicts: Verdict[] = [];
    const what = `${s.agg}(${s.field ?? 'rows'}) over ${s.window}`;
    for (const [groupKey, { value, labels }] of values) {
      const holds = COMPARE[s.op](value, s.value);
      if (!holds) {
        this.pending.delete(groupKey);
        verdicts.push({ groupKey, state: 'ok', value, labels, description: `${what} is ${fmt(value)}` });
        continue;
      }
      let since = this.pending.get(groupKey);
      if (since === undefined) this.pending.set(groupKey, (since = now));
      const state = now - since >= this.forMs ? 'firing' : 'pending';
      const held = this.forMs > 0 ? ` for ${Math.round((now - since) / 1000)}s` : '';
      verdicts.push({
        groupKey,
        state,
        value,
        labels,
        description: `${what} is ${fmt(value)} (${s.op} ${fmt(s.value)})${held}`,
      });
    }
    for (const k of [...this.pending.map.keys()]) if (!values.has(k)) this.pending.delete(k);
    return { verdicts, resolveMissing: true };
  }

  takeDirty(): Map<string, unknown> {
    return this.pending.take((since) => ({ since }));
  }
}

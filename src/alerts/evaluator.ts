import type { Logger } from 'pino';
import type { AppliedBatch } from '../apply/applier.js';
import type { AlertStore } from '../store/alert-store.js';
import type { UploadRow } from '../store/meta-store.js';
import type { RuleSpec } from './alert-config.js';
import type { AlertMetrics } from './alert-metrics.js';
import { fingerprintOf, type AlertService } from './alert-service.js';
import { AnomalyRule } from './rules/anomaly-rule.js';
import { DeadmanRule } from './rules/deadman-rule.js';
import { InvalidRatioRule } from './rules/invalid-ratio-rule.js';
import { ruleLabels, type AlertRule, type RuleDeps, type Verdict } from './rules/rule.js';
import { ThresholdRule } from './rules/threshold-rule.js';

/** Builds the live rule for a spec; throws a SluiceError when it names unknown datasets or columns. */
export function createRule(spec: RuleSpec, deps: RuleDeps): AlertRule {
  switch (spec.type) {
    case 'threshold':
      return new ThresholdRule(spec, deps);
    case 'invalid_ratio':
      return new InvalidRatioRule(spec, deps);
    case 'deadman':
      return new DeadmanRule(spec, deps);
    case 'anomaly':
      return new AnomalyRule(spec, deps);
  }
}

export const ruleSource = (ruleId: string): string => `rule:${ruleId}`;

/**
 * Runs the rules: every `everyMs` (and on demand) each rule evaluates, and its verdicts fire, update
 * or resolve alerts. Applied batches and finished uploads reach the rules that listen for them. Rule
 * state that changed is saved after each evaluation, so baselines and pending conditions survive a
 * restart.
 */
export class Evaluator {
  private readonly rules = new Map<string, AlertRule>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly deps: {
      rules: RuleDeps;
      store: AlertStore;
      alerts: AlertService;
      metrics: AlertMetrics;
      log: Logger;
      now: () => number;
    },
  ) {}

  /** Validates and installs a rule, restoring its saved state. */
  async set(spec: RuleSpec): Promise<void> {
    const rule = createRule(spec, this.deps.rules);
    const saved = await this.deps.store.ruleStates(spec.id);
    if (saved.size > 0) rule.restore(saved);
    else await rule.prime?.(this.deps.now());
    this.rules.set(spec.id, rule);
  }

  /** Validates a spec without installing it. */
  check(spec: RuleSpec): void {
    createRule(spec, this.deps.rules);
  }

  get(id: string): AlertRule | undefined {
    return this.rules.get(id);
  }

  specs(): RuleSpec[] {
    return [...this.rules.values()].map((r) => r.spec);
  }

  /** Removes a rule, its state and resolves its open alerts. */
  async remove(id: string): Promise<void> {
    this.rules.delete(id);
    await this.deps.store.deleteRuleStates(id);
    const now = this.deps.now();
    for (const a of await this.deps.alerts.firingOf(id)) await this.deps.alerts.clear(a.fingerprint, now);
  }

  start(everyMs: number): void {
    this.timer = setInterval(() => void this.tick().catch(() => undefined), everyMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.persist();
  }

  /** Evaluates every rule once; a tick already running is awaited rather than overlapped. */
  tick(now = this.deps.now()): Promise<void> {
    const run = (this.running ?? Promise.resolve()).then(() => this.evaluateAll(now));
    this.running = run.catch(() => undefined);
    return run;
  }

  onBatch(applied: AppliedBatch): void {
    const now = this.deps.now();
    for (const rule of this.rules.values()) rule.onBatch?.(applied, now);
  }

  async onUpload(row: UploadRow): Promise<void> {
    const now = this.deps.now();
    for (const rule of this.rules.values()) {
      if (!rule.onUpload) continue;
      try {
        await this.apply(rule, await rule.onUpload(row, now), false, now);
      } catch (err) {
        this.deps.log.error({ err, rule: rule.spec.id, upload: row.id }, 'alert rule failed on an upload');
      }
    }
  }

  private async evaluateAll(now: number): Promise<void> {
    const { metrics, log } = this.deps;
    for (const rule of [...this.rules.values()]) {
      const { id, type } = rule.spec;
      const end = metrics.evaluationSeconds.startTimer({ type });
      try {
        const { verdicts, resolveMissing } = await rule.evaluate(now);
        await this.apply(rule, verdicts, resolveMissing, now);
        metrics.evaluations.inc({ rule: id, type, outcome: 'ok' });
      } catch (err) {
        metrics.evaluations.inc({ rule: id, type, outcome: 'error' });
        log.warn({ err, rule: id }, 'alert rule evaluation failed');
      } finally {
        end();
      }
    }
    await this.persist();
  }

  private async apply(
    rule: AlertRule,
    verdicts: Verdict[],
    resolveMissing: boolean,
    now: number,
  ): Promise<void> {
    const { alerts } = this.deps;
    const spec = rule.spec;
    const source = ruleSource(spec.id);
    // Most verdicts are "fine" for a group with nothing open: one read up front saves a store call each.
    const open = new Set((await alerts.firingOf(spec.id)).map((a) => a.groupKey));
    for (const v of verdicts) {
      const at = v.at ?? now;
      if (v.state === 'firing') {
        await alerts.fire({
          ruleId: spec.id,
          source,
          kind: spec.type,
          groupKey: v.groupKey,
          severity: spec.severity,
          description: spec.description ? `${spec.description}: ${v.description}` : v.description,
          labels: { ...ruleLabels(spec), ...v.labels, rule: spec.id },
          value: v.value,
          at,
        });
        open.add(v.groupKey);
      } else if (v.state === 'ok' && open.delete(v.groupKey)) {
        await alerts.clear(fingerprintOf(source, spec.type, v.groupKey), at);
      }
    }
    if (!resolveMissing) return;
    const seen = new Set(verdicts.map((v) => v.groupKey));
    for (const group of open)
      if (!seen.has(group)) await alerts.clear(fingerprintOf(source, spec.type, group), now);
  }

  private async persist(): Promise<void> {
    for (const rule of this.rules.values())
      for (const [group, state] of rule.takeDirty())
        await this.deps.store.putRuleState(rule.spec.id, group, state);
  }
}

import { durationMs } from '../../core/duration.js';
import type { UploadRow } from '../../store/meta-store.js';
import type { InvalidRatioRuleSpec } from '../alert-config.js';
import { fmt, type AlertRule, type Evaluation, type RuleDeps, type Verdict } from './rule.js';

const MINUTE_MS = 60_000;

/**
 * Invalid rows / rows, against `ratio`. Per upload it judges each finished upload, and one alert per
 * (dataset, client) stays open until an upload of theirs is clean again. Per dataset or per client it
 * reads the quality counters (fed by every applied batch) over the last `window`.
 */
export class InvalidRatioRule implements AlertRule {
  private readonly windowMs: number;

  constructor(
    readonly spec: InvalidRatioRuleSpec,
    private readonly deps: RuleDeps,
  ) {
    if (spec.dataset !== undefined) deps.registry.get(spec.dataset);
    this.windowMs = durationMs(spec.window);
  }

  restore(): void {}

  takeDirty(): Map<string, unknown> {
    return new Map();
  }

  async evaluate(now: number): Promise<Evaluation> {
    const s = this.spec;
    if (s.per === 'upload') return { verdicts: [], resolveMissing: false };
    // Counters are per minute of arrival: the window starts at the minute `window` ago began.
    const fromMs = Math.floor((now - this.windowMs) / MINUTE_MS) * MINUTE_MS;
    const groups = await this.deps.meta.quality.qualityGroups({ dataset: s.dataset, fromMs, toMs: now + 1 });
    const sums = new Map<string, { labels: Record<string, string>; total: number; invalid: number }>();
    for (const g of groups) {
      const labels: Record<string, string> =
        s.per === 'dataset' ? { dataset: g.dataset } : { client: g.client };
      const key = s.per === 'dataset' ? `dataset=${g.dataset}` : `client=${g.client}`;
      const sum = sums.get(key) ?? { labels, total: 0, invalid: 0 };
      sum.total += g.total;
      sum.invalid += g.invalid;
      sums.set(key, sum);
    }
    const verdicts: Verdict[] = [];
    for (const [groupKey, { labels, total, invalid }] of sums) {
      if (total < s.min_rows) continue;
      verdicts.push(this.verdict(groupKey, labels, invalid, total, `over ${s.window}`));
    }
    return { verdicts, resolveMissing: true };
  }

  async onUpload(row: UploadRow): Promise<Verdict[]> {
    const s = this.spec;
    if (s.per !== 'upload' || row.status !== 'done') return [];
    if (s.dataset !== undefined && row.dataset !== s.dataset) return [];
    const counts = await this.deps.meta.uploadCounts(row.id);
    if (counts.total < s.min_rows) return [];
    const labels = { dataset: row.dataset, client: row.client, upload: row.id };
    const groupKey = `dataset=${row.dataset},client=${row.client}`;
    return [this.verdict(groupKey, labels, counts.invalid, counts.total, `in upload ${row.id}`)];
  }

  private verdict(
    groupKey: string,
    labels: Record<string, string>,
    invalid: number,
    total: number,
    where: string,
  ): Verdict {
    const ratio = invalid / total;
    return {
      groupKey,
      state: ratio > this.spec.ratio ? 'firing' : 'ok',
      value: ratio,
      labels,
      description: `${fmt(ratio * 100)}% invalid rows (${invalid} of ${total}) ${where}; threshold ${fmt(this.spec.ratio * 100)}%`,
    };
  }
}

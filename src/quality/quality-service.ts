import type { DatasetRegistry } from '../core/dataset-registry.js';
import type { MetaStore } from '../store/meta-store.js';
import type { QualityCounts, QualityFilter } from '../store/quality-store.js';

export interface QualityQuery {
  dataset?: string;
  client?: string;
  fromMs: number;
  toMs: number;
  stepMs: number;
  /** Reasons returned, most frequent first. */
  top: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const rate = (c: QualityCounts) => (c.total > 0 ? c.invalid / c.total : 0);

function counts(c: QualityCounts) {
  return {
    total: c.total,
    valid: c.valid,
    invalid: c.invalid,
    duplicate: c.duplicate,
    invalid_rate: rate(c),
  };
}

/** Answers `GET /v1/quality`: invalid rates over time, per dataset and client, and the top reasons. */
export class QualityService {
  constructor(
    private readonly registry: DatasetRegistry,
    private readonly meta: MetaStore,
  ) {}

  async report(q: QualityQuery) {
    if (q.dataset !== undefined) this.registry.get(q.dataset);
    const filter: QualityFilter = { dataset: q.dataset, client: q.client, fromMs: q.fromMs, toMs: q.toMs };
    const [buckets, groups, reasons] = await Promise.all([
      this.meta.quality.qualityBuckets(filter, q.stepMs),
      this.meta.quality.qualityGroups(filter),
      this.meta.quality.qualityReasons(filter, q.top),
    ]);
    const total = groups.reduce(
      (a, g) => ({
        total: a.total + g.total,
        valid: a.valid + g.valid,
        invalid: a.invalid + g.invalid,
        duplicate: a.duplicate + g.duplicate,
      }),
      { total: 0, valid: 0, invalid: 0, duplicate: 0 },
    );
    const sumBy = (pick: (g: (typeof groups)[number]) => string) => {
      const m = new Map<string, QualityCounts>();
      for (const g of groups) {
        const k = pick(g);
        const c = m.get(k) ?? { total: 0, valid: 0, invalid: 0, duplicate: 0 };
        m.set(k, {
          total: c.total + g.total,
          valid: c.valid + g.valid,
          invalid: c.invalid + g.invalid,
          duplicate: c.duplicate + g.duplicate,
        });
      }
      return [...m].sort((a, b) => rate(b[1]) - rate(a[1]) || b[1].invalid - a[1].invalid);
    };
    return {
      dataset: q.dataset ?? null,
      client: q.client ?? null,
      from: iso(q.fromMs),
      to: iso(q.toMs),
      step_ms: Math.max(60_000, q.stepMs),
      totals: counts(total),
      buckets: buckets.map((b) => ({ time: iso(b.bucketMs), ...counts(b) })),
      by_dataset: sumBy((g) => g.dataset).map(([dataset, c]) => ({ dataset, ...counts(c) })),
      by_client: sumBy((g) => g.client).map(([client, c]) => ({ client: client || null, ...counts(c) })),
      top_reasons: reasons.map((r) => ({
        reason: r.reason,
        count: r.n,
        share: total.invalid > 0 ? r.n / total.invalid : 0,
        examples: r.examples.map((e) => ({
          dataset: e.dataset,
          client: e.client || null,
          time: iso(e.bucketMs),
          line: e.line,
          column: e.column,
          raw: e.raw,
        })),
      })),
    };
  }
}

import { SluiceError } from '../../core/errors.js';
import type { DatasetLayout } from '../../core/dataset.js';
import type { FieldAggregate } from '../../store/series-store.js';

/** What can be computed from rollups. Quantiles come from merged sketches and are approximate. */
export const METRIC_AGGS = [
  'count',
  'sum',
  'mean',
  'min',
  'max',
  'stddev',
  'p50',
  'p90',
  'p95',
  'p99',
] as const;
export type MetricAgg = (typeof METRIC_AGGS)[number];

export interface Metric {
  /** As requested, e.g. `count` or `p95(latency_ms)`; the key of the value in results. */
  name: string;
  agg: MetricAgg;
  /** null for `count` of rows. */
  field: string | null;
}

const QUANTILES: Partial<Record<MetricAgg, number>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

export function isQuantile(agg: MetricAgg): boolean {
  return QUANTILES[agg] !== undefined;
}

/** Parses `count`, `count(f)`, `mean(f)`, `p95(f)` …, checking the field against the layout. */
export function parseMetric(layout: DatasetLayout, text: string): Metric {
  const m = /^\s*([a-z0-9]+)\s*(?:\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\))?\s*$/.exec(text);
  const agg = m?.[1] as MetricAgg | undefined;
  if (!m || agg === undefined || !(METRIC_AGGS as readonly string[]).includes(agg))
    throw new SluiceError(
      'bad_query',
      `'${text}' is not a metric; use count, or one of ${METRIC_AGGS.join(', ')} with a field, e.g. mean(${layout.fields[0]?.name ?? 'value'})`,
    );
  const field = m[2] ?? null;
  if (field === null && agg !== 'count')
    throw new SluiceError(
      'bad_query',
      `metric '${agg}' needs a field, e.g. ${agg}(${layout.fields[0]?.name ?? 'value'})`,
    );
  if (field !== null && !layout.fields.some((f) => f.name === field))
    throw new SluiceError(
      'bad_query',
      `'${field}' is not a field of '${layout.spec.name}' (fields: ${layout.fields.map((f) => f.name).join(', ')})`,
    );
  return { name: text.trim(), agg, field };
}

/** The metric's value from a group's row count and its field aggregate; null when undefined. */
export function metricValue(metric: Metric, rows: number, agg: FieldAggregate | undefined): number | null {
  if (metric.field === null) return rows;
  if (agg === undefined) return null;
  const n = agg.count;
  switch (metric.agg) {
    case 'count':
      return n;
    case 'sum':
      return agg.sum;
    case 'mean':
      return n > 0 ? agg.sum / n : null;
    case 'min':
      return n > 0 ? agg.min : null;
    case 'max':
      return n > 0 ? agg.max : null;
    case 'stddev': {
      if (n === 0) return null;
      const mean = agg.sum / n;
      return Math.sqrt(Math.max(0, agg.sumSq / n - mean * mean));
    }
    default: {
      const q = QUANTILES[metric.agg]!;
      const v = agg.sketch?.quantile(q);
      return v === undefined || Number.isNaN(v) ? null : v;
    }
  }
}

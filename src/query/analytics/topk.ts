import type { DatasetLayout } from '../../core/dataset.js';
import { SluiceError } from '../../core/errors.js';
import type { KeyFilter, SeriesStore } from '../../store/series-store.js';
import { isoOfUs } from '../query-params.js';
import { metricValue, type Metric } from './metric.js';
import { planWindow } from './rollup-window.js';

export const TOPK_BY = ['count', 'mean', 'p95', 'max'] as const;
export type TopKBy = (typeof TOPK_BY)[number];

export interface TopKItem {
  /** The group column's value. */
  group: string;
  value: number;
  /** Rows in the group over the window. */
  count: number;
}

export interface TopKAnswer {
  dataset: string;
  by: TopKBy;
  field: string | null;
  group: string;
  k: number;
  from: string;
  to: string;
  /** False when a value comes from merged quantile sketches that no longer hold every value. */
  exact: boolean;
  items: TopKItem[];
}

export interface TopKQuery {
  k: number;
  by: TopKBy;
  field?: string;
  group?: string;
  keys?: KeyFilter;
  fromUs: number;
  toUs: number;
}

/** Identifies a top-K query for sharing: windows that widen to the same whole minutes are one query. */
export function topKKey(dataset: string, q: TopKQuery): string {
  const { fromUs, toUs } = planWindow(q.fromUs, q.toUs);
  return JSON.stringify([dataset, q.k, q.by, q.field, q.group, q.keys, fromUs, toUs]);
}

/**
 * The k groups (values of one key column) with the largest count, mean, p95 or max of a field over a
 * window, from rollups. count, mean and max are exact over the window widened to whole minutes; p95
 * is read from merged t-digests and is exact only while every merged sketch still holds its values.
 * Ties go to the smaller group value, so the answer is deterministic.
 */
export async function topKOf(
  series: Pick<SeriesStore, 'readRollups'>,
  layout: DatasetLayout,
  q: TopKQuery,
): Promise<TopKAnswer> {
  const group = q.group ?? layout.keys[0]!.name;
  if (!layout.keys.some((c) => c.name === group))
    throw new SluiceError(
      'bad_query',
      `'group' must be a key column of '${layout.spec.name}' (${layout.keys.map((c) => c.name).join(', ')}); got ${group}`,
    );
  const field = q.by === 'count' ? (q.field ?? null) : (q.field ?? layout.fields[0]?.name ?? null);
  if (q.by !== 'count' && field === null)
    throw new SluiceError('bad_query', `'${layout.spec.name}' has no field to rank by ${q.by}`);
  if (field !== null && !layout.fields.some((f) => f.name === field))
    throw new SluiceError(
      'bad_query',
      `'${field}' is not a field of '${layout.spec.name}' (fields: ${layout.fields.map((f) => f.name).join(', ')})`,
    );
  const window = planWindow(q.fromUs, q.toUs);
  const groups = await series.readRollups(layout, {
    segments: window.segments,
    keys: q.keys ?? {},
    groupBy: [group],
    fields: field === null ? [] : [field],
    sketches: q.by === 'p95',
  });
  // count without a field counts rows; with one, rows where the field is present.
  const metric: Metric = { name: q.by, agg: q.by, field };
  let exact = true;
  const items: TopKItem[] = [];
  for (const g of groups) {
    const agg = g.fields[0];
    if (agg?.sketch !== undefined && !agg.sketch.exact) exact = false;
    const value = metricValue(metric, g.rows, agg);
    if (value !== null) items.push({ group: g.group[0] ?? '', value, count: g.rows });
  }
  items.sort((a, b) => b.value - a.value || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
  return {
    dataset: layout.spec.name,
    by: q.by,
    field,
    group,
    k: q.k,
    from: isoOfUs(window.fromUs),
    to: isoOfUs(window.toUs),
    exact,
    items: items.slice(0, q.k),
  };
}

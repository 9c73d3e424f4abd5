import type { DatasetLayout } from '../core/dataset.js';
import { SluiceError } from '../core/errors.js';
import type { KeyFilter, SeriesAgg, SeriesPoint, SeriesStore } from '../store/series-store.js';

/**
 * Aggregates over time windows for alert rules, per group of key columns. This is the one place rules
 * read data: today it asks the SeriesStore for raw buckets (count/sum/min/max partials, merged per group);
 * pointing it at rollups later changes no rule.
 */
export type WindowAgg = 'count' | 'mean' | 'min' | 'max' | 'sum' | 'p95';

export interface WindowQuery {
  layout: DatasetLayout;
  /** Field to aggregate; `count` without one counts rows. */
  field?: string;
  agg: WindowAgg;
  where: KeyFilter;
  /** Key columns that split the result; none gives one group (key ''). */
  groupBy: readonly string[];
  fromMs: number;
  toMs: number;
}

export interface GroupValue {
  value: number;
  /** The group's key columns and values. */
  labels: Record<string, string>;
}

/** Rows read at most for a p95 (computed from raw values until rollups carry sketches). */
export const P95_ROW_LIMIT = 200_000;
const GROUP_LIMIT = 1_000_000;

interface Partial {
  n: number;
  sum: number;
  min: number;
  max: number;
}

export function groupKeyOf(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function checkColumns(
  layout: DatasetLayout,
  field: string | undefined,
  groupBy: readonly string[],
): void {
  const name = layout.spec.name;
  if (layout.spec.mode !== 'append')
    throw new SluiceError(
      'bad_request',
      `alert rules read append-mode datasets; '${name}' is ${layout.spec.mode}`,
    );
  if (field !== undefined && !layout.fields.some((f) => f.name === field))
    throw new SluiceError('bad_request', `'${field}' is not a field of '${name}'`);
  for (const k of groupBy)
    if (!layout.keys.some((c) => c.name === k))
      throw new SluiceError('bad_request', `'${k}' is not a key column of '${name}'`);
}

/** One value per group over [fromMs, toMs). Groups without rows are absent. */
export async function aggregateWindow(series: SeriesStore, q: WindowQuery): Promise<Map<string, GroupValue>> {
  const agg = q.agg;
  if (agg === 'p95') return p95Window(series, q);
  const buckets = await bucketedAggregate(series, { ...q, agg }, Math.max(1, q.toMs - q.fromMs));
  const out = new Map<string, GroupValue>();
  for (const [key, g] of buckets) {
    const merged = [...g.buckets.values()].reduce(merge);
    const value = finalize(merged, agg);
    if (value !== null) out.set(key, { value, labels: g.labels });
  }
  return out;
}

/**
 * Aggregates per group and per time bucket of `stepMs` (aligned to the epoch) over [fromMs, toMs).
 * Returns partials; `finalize` turns one into the requested aggregate.
 */
export async function bucketedAggregate(
  series: SeriesStore,
  q: Omit<WindowQuery, 'agg'> & { agg: Exclude<WindowAgg, 'p95'> },
  stepMs: number,
): Promise<Map<string, { labels: Record<string, string>; buckets: Map<number, Partial> }>> {
  const { layout } = q;
  const field = q.field ?? countField(layout);
  const needs: SeriesAgg[] = q.agg === 'mean' ? ['sum', 'count'] : q.agg === 'count' ? ['count'] : [q.agg];
  const out = new Map<string, { labels: Record<string, string>; buckets: Map<number, Partial> }>();
  const groupOf = grouper(layout, q.groupBy);
  for (const agg of needs) {
    const points = await series.series(layout, {
      keys: q.where,
      fromUs: q.fromMs * 1000,
      toUs: q.toMs * 1000,
      stepMs,
      agg,
      fields: [field],
      limit: GROUP_LIMIT,
    });
    for (const { p, v, key, labels } of valued(points, groupOf)) {
      let g = out.get(key);
      if (!g) out.set(key, (g = { labels, buckets: new Map() }));
      const t = Math.floor(p.timeUs / 1000);
      const part = g.buckets.get(t) ?? { n: 0, sum: 0, min: Infinity, max: -Infinity };
      if (agg === 'count') part.n += v;
      if (agg === 'sum') part.sum += v;
      if (agg === 'min') part.min = Math.min(part.min, v);
      if (agg === 'max') part.max = Math.max(part.max, v);
      g.buckets.set(t, part);
    }
  }
  return out;
}

export function finalize(p: Partial, agg: Exclude<WindowAgg, 'p95'>): number | null {
  switch (agg) {
    case 'count':
      return p.n;
    case 'sum':
      return p.sum;
    case 'mean':
      return p.n > 0 ? p.sum / p.n : null;
    case 'min':
      return Number.isFinite(p.min) ? p.min : null;
    case 'max':
      return Number.isFinite(p.max) ? p.max : null;
  }
}

/** Maps a point's key values to its group: the `groupBy` columns and their values. */
function grouper(layout: DatasetLayout, groupBy: readonly string[]) {
  const idx = groupBy.map((k) => layout.keys.findIndex((c) => c.name === k));
  return (keys: readonly string[]) => {
    const labels: Record<string, string> = {};
    groupBy.forEach((k, i) => (labels[k] = keys[idx[i]!] ?? ''));
    return { key: groupKeyOf(labels), labels };
  };
}

/** The points with a value, each with its group. */
function* valued(points: readonly SeriesPoint[], groupOf: ReturnType<typeof grouper>) {
  for (const p of points) {
    const v = p.values[0];
    if (v === null || v === undefined) continue;
    yield { p, v, ...groupOf(p.keys) };
  }
}

function merge(a: Partial, b: Partial): Partial {
  return { n: a.n + b.n, sum: a.sum + b.sum, min: Math.min(a.min, b.min), max: Math.max(a.max, b.max) };
}

/** The column whose non-missing values count rows: a required field, else the first field. */
function countField(layout: DatasetLayout): string {
  const f = layout.fields.find((c) => c.required) ?? layout.fields[0];
  if (!f)
    throw new SluiceError('bad_request', `'${layout.spec.name}' has no field column to count or aggregate`);
  return f.name;
}

async function p95Window(series: SeriesStore, q: WindowQuery): Promise<Map<string, GroupValue>> {
  const field = q.field ?? countField(q.layout);
  const points = await series.series(q.layout, {
    keys: q.where,
    fromUs: q.fromMs * 1000,
    toUs: q.toMs * 1000,
    agg: 'mean',
    fields: [field],
    limit: P95_ROW_LIMIT,
  });
  const groups = new Map<string, { labels: Record<string, string>; values: number[] }>();
  for (const { v, key, labels } of valued(points, grouper(q.layout, q.groupBy))) {
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { labels, values: [] }));
    g.values.push(v);
  }
  const out = new Map<string, GroupValue>();
  for (const [key, g] of groups) {
    g.values.sort((a, b) => a - b);
    // Nearest-rank p95, as the statistics endpoint reports it for small samples.
    const rank = Math.max(0, Math.ceil(0.95 * g.values.length) - 1);
    out.set(key, { value: g.values[rank]!, labels: g.labels });
  }
  return out;
}

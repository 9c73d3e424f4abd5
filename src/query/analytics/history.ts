import type { DatasetLayout } from '../../core/dataset.js';
import type { SeriesStore } from '../../store/series-store.js';
import { metricValue } from './metric.js';
import { planStepped } from './rollup-window.js';

const DAY_US = 86_400_000_000;
/** Days filled with zeros at most; longer windows list only days with data. */
const MAX_FILLED_DAYS = 400;

export interface HistoryDay {
  /** UTC date, YYYY-MM-DD. */
  date: string;
  total: number;
  /** Per field: values present, their mean, min and max (null on a day without values). */
  fields: Record<string, { count: number; mean: number | null; min: number | null; max: number | null }>;
}

export interface HistoryAnswer {
  dataset: string;
  from: string;
  to: string;
  days: HistoryDay[];
}

function dateOf(us: number): string {
  return new Date(us / 1000).toISOString().slice(0, 10);
}

/** Identifies a history query for sharing: windows that widen to the same whole days are one query. */
export function historyKey(dataset: string, q: { fromUs: number; toUs: number; fillDays: boolean }): string {
  const { fromUs, toUs } = planStepped(q.fromUs, q.toUs, DAY_US);
  return JSON.stringify([dataset, q.fillDays, fromUs, toUs]);
}

/** Daily totals and per-field means over whole UTC days, from the 1-day rollups. Exact. */
export async function historyOf(
  series: Pick<SeriesStore, 'readRollups'>,
  layout: DatasetLayout,
  q: { fromUs: number; toUs: number; fillDays: boolean },
): Promise<HistoryAnswer> {
  const window = planStepped(q.fromUs, q.toUs, DAY_US);
  const fields = layout.fields.map((f) => f.name);
  const groups = await series.readRollups(layout, {
    segments: window.segments,
    keys: {},
    groupBy: [],
    fields,
    stepUs: DAY_US,
    sketches: false,
  });
  const byDay = new Map<number, HistoryDay>();
  const emptyDay = (bucketUs: number): HistoryDay => ({
    date: dateOf(bucketUs),
    total: 0,
    fields: Object.fromEntries(fields.map((f) => [f, { count: 0, mean: null, min: null, max: null }])),
  });
  for (const g of groups) {
    const day = emptyDay(g.bucketUs);
    day.total = g.rows;
    fields.forEach((f, i) => {
      const agg = g.fields[i];
      day.fields[f] = {
        count: agg?.count ?? 0,
        mean: metricValue({ name: 'mean', agg: 'mean', field: f }, g.rows, agg),
        min: metricValue({ name: 'min', agg: 'min', field: f }, g.rows, agg),
        max: metricValue({ name: 'max', agg: 'max', field: f }, g.rows, agg),
      };
    });
    byDay.set(g.bucketUs, day);
  }
  if (q.fillDays && (window.toUs - window.fromUs) / DAY_US <= MAX_FILLED_DAYS)
    for (let d = window.fromUs; d < window.toUs; d += DAY_US) if (!byDay.has(d)) byDay.set(d, emptyDay(d));
  const days = [...byDay.entries()].sort((a, b) => a[0] - b[0]).map(([, d]) => d);
  return { dataset: layout.spec.name, from: dateOf(window.fromUs), to: dateOf(window.toUs - DAY_US), days };
}

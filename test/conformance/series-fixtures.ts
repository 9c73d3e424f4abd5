import type { ColumnarBatch } from '../../src/core/batch.js';
import { datasetSchema, layoutOf, type DatasetInput, type DatasetLayout } from '../../src/core/dataset.js';
import type { KeyFilter, SeriesAgg, SeriesPoint } from '../../src/store/series-store.js';

/** Builders for SeriesStore test data, and a plain-JS model of what `series` must return. */

export const MINUTE_US = 60_000_000;
/** 2024-01-01T00:00:00Z: a bucket boundary for every step the tests use. */
export const T0_US = 1_704_067_200_000_000;

/** A device reading stream with one column of every role; `rollups` declares its rollup levels. */
export function readingsLayout(name = 'readings', rollups?: DatasetInput['rollups']): DatasetLayout {
  return layoutOf(
    datasetSchema.parse({
      name,
      dedup: 'content',
      rollups,
      columns: [
        { name: 'device_id', type: 'string', role: 'key', required: true },
        { name: 'site', type: 'string', role: 'key', required: true },
        { name: 'ts', type: 'time', role: 'time' },
        { name: 'value', type: 'number', role: 'field', required: true },
        { name: 'temp', type: 'number', role: 'field' },
        { name: 'data', type: 'json', role: 'payload' },
        { name: 'note', type: 'string', role: 'attribute' },
      ],
    }),
  );
}

/** One row; `temp` NaN and `data`/`note` null stand for missing values. */
export interface ReadingRow {
  device: string;
  site: string;
  timeUs: number;
  value: number;
  temp: number;
  data: string | null;
  note: string | null;
  hash: number;
  line: number;
}

/**
 * Deterministic rows: `devices` devices on two sites, one row per device every 17 s, values from a
 * fixed formula, every 5th temp and every 7th payload missing. Times are distinct within a device.
 */
export function readingRows(count: number, devices = 3, startLine = 2): ReadingRow[] {
  const rows: ReadingRow[] = [];
  for (let i = 0; i < count; i++) {
    const d = i % devices;
    const step = Math.floor(i / devices);
    rows.push({
      device: `dev-${d}`,
      site: d % 2 === 0 ? 'north' : 'south',
      timeUs: T0_US + step * 17_000_000 + d * 1_000,
      value: ((i * 37) % 101) / 4 - 3,
      temp: i % 5 === 4 ? NaN : 20 + ((i * 13) % 11) / 2,
      data: i % 7 === 6 ? null : `{"i":${i},"tag":"t${i % 3}"}`,
      note: i % 4 === 0 ? null : `note "${i}"`,
      // From the line, so rows made by calls with different start lines never share a hash.
      hash: ((startLine + i) * 2_654_435_761) % 9_007_199_254_740_991,
      line: startLine + i,
    });
  }
  return rows;
}

export function readingsBatch(
  rows: readonly ReadingRow[],
  opts: { id?: string; seq?: number; dataset?: string; source?: string } = {},
): ColumnarBatch {
  const n = rows.length;
  const seq = opts.seq ?? 0;
  const source = opts.source ?? 'upload-1';
  return {
    id: opts.id ?? `${source}:${seq}`,
    dataset: opts.dataset ?? 'readings',
    source,
    seq,
    length: n,
    keys: [rows.map((r) => r.device), rows.map((r) => r.site)],
    timeUs: Float64Array.from(rows, (r) => r.timeUs),
    fields: [Float64Array.from(rows, (r) => r.value), Float64Array.from(rows, (r) => r.temp)],
    payloads: [rows.map((r) => r.data)],
    attributes: [rows.map((r) => r.note)],
    timeText: null,
    hashes: Float64Array.from(rows, (r) => r.hash),
    lines: Float64Array.from(rows, (r) => r.line),
    totalRows: n,
    rejects: [],
    end: { offset: n * 40, line: rows[n - 1]?.line ?? 1 },
  };
}

/**
 * Times a store must keep exactly: before 1970, around the 2^32 microsecond boundary (where an int64
 * split into 32-bit halves could go wrong), year 1 and the batch's 2^53 limit.
 */
export const EDGE_TIMES_US: readonly number[] = [
  0,
  1,
  -1,
  -999_999,
  -1_000_001,
  -1_500_000_000_123_457,
  -62_135_596_800_000_000,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 32 + 1,
  -(2 ** 32) + 1,
  -(2 ** 32),
  -(2 ** 32) - 1,
  -(2 ** 40) - 7,
  2 ** 52 + 1,
  2 ** 53 - 1,
  -(2 ** 53) + 1,
];

/**
 * Strings a store must keep exactly: empty, up to and past 12 bytes (DuckDB's inline limit, where
 * its writer changes path), multi-byte characters whose byte length differs from their length,
 * quotes, control characters and a long one.
 */
export const EDGE_STRINGS: readonly string[] = [
  '',
  'a',
  'abcdefghijkl',
  'abcdefghijklm',
  'é',
  'ééééé',
  'éééééé',
  'ééééééé',
  '日本語',
  '日本語のテキスト',
  'rocket 🚀',
  'say "hi"',
  "it's",
  'tab\tnew\nline',
  'x'.repeat(300),
];

/** A keep mask that drops every `every`-th row. */
export function dropEvery(length: number, every: number): Uint8Array {
  const keep = new Uint8Array(length);
  for (let i = 0; i < length; i++) keep[i] = i % every === every - 1 ? 0 : 1;
  return keep;
}

export function keptOnly<T>(rows: readonly T[], keep: Uint8Array): T[] {
  return rows.filter((_, i) => keep[i] === 1);
}

function matches(r: ReadingRow, keys: KeyFilter): boolean {
  const byColumn: Record<string, string> = { device_id: r.device, site: r.site };
  return Object.entries(keys).every(([col, values]) => values.includes(byColumn[col]!));
}

function fieldOf(r: ReadingRow, field: string): number {
  return field === 'value' ? r.value : r.temp;
}

function aggregate(agg: SeriesAgg, rows: readonly ReadingRow[], field: string): number | null {
  const present = rows.filter((r) => !Number.isNaN(fieldOf(r, field)));
  const xs = present.map((r) => fieldOf(r, field));
  if (agg === 'count') return xs.length;
  if (xs.length === 0) return null;
  switch (agg) {
    case 'mean':
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    case 'sum':
      return xs.reduce((a, b) => a + b, 0);
    case 'min':
      return Math.min(...xs);
    case 'max':
      return Math.max(...xs);
    case 'last': {
      let best = present[0]!;
      for (const r of present) if (r.timeUs > best.timeUs) best = r;
      return fieldOf(best, field);
    }
  }
}

/** What `series` must return for the readings fixture, computed without any database. */
export function expectedSeries(
  rows: readonly ReadingRow[],
  q: {
    keys: KeyFilter;
    fromUs?: number;
    toUs?: number;
    stepMs?: number;
    agg: SeriesAgg;
    fields: string[];
    limit: number;
  },
): SeriesPoint[] {
  const selected = rows.filter(
    (r) =>
      matches(r, q.keys) &&
      (q.fromUs === undefined || r.timeUs >= q.fromUs) &&
      (q.toUs === undefined || r.timeUs < q.toUs),
  );
  let points: SeriesPoint[];
  if (q.stepMs === undefined) {
    points = selected.map((r) => ({
      timeUs: r.timeUs,
      keys: [r.device, r.site],
      values: q.fields.map((f) => {
        const x = fieldOf(r, f);
        return Number.isNaN(x) ? null : x;
      }),
    }));
  } else {
    const stepUs = q.stepMs * 1000;
    const groups = new Map<string, ReadingRow[]>();
    for (const r of selected) {
      const bucket = Math.floor(r.timeUs / stepUs) * stepUs;
      const id = JSON.stringify([r.device, r.site, bucket]);
      const g = groups.get(id);
      if (g === undefined) groups.set(id, [r]);
      else g.push(r);
    }
    points = [...groups.entries()].map(([id, g]) => {
      const [device, site, bucket] = JSON.parse(id) as [string, string, number];
      return { timeUs: bucket, keys: [device, site], values: q.fields.map((f) => aggregate(q.agg, g, f)) };
    });
  }
  const byTime = (a: SeriesPoint, b: SeriesPoint): number =>
    a.timeUs - b.timeUs || compareKeys(a.keys, b.keys);
  const byKeys = (a: SeriesPoint, b: SeriesPoint): number =>
    compareKeys(a.keys, b.keys) || a.timeUs - b.timeUs;
  return points.sort(byTime).slice(0, q.limit).sort(byKeys);
}

function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return -1;
    if (a[i]! > b[i]!) return 1;
  }
  return 0;
}

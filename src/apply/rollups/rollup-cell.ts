import { QuantileSketch, type QuantileSketchOptions } from '../../query/quantile-sketch.js';

/**
 * Rollups: per series (the key columns' values) and per time bucket, for every field, the count,
 * sum, min, max, sum of squares and a mergeable quantile sketch, plus the bucket's row count. Every
 * part merges by addition (or min/max), so a bucket can take late rows, and coarse buckets are the
 * merge of the fine ones inside them.
 */
export type RollupResolution = '1m' | '1h' | '1d';
export const ROLLUP_RESOLUTIONS: readonly RollupResolution[] = ['1m', '1h', '1d'];
export const RESOLUTION_US: Readonly<Record<RollupResolution, number>> = {
  '1m': 60_000_000,
  '1h': 3_600_000_000,
  '1d': 86_400_000_000,
};

/**
 * Rollup sketches are smaller than the statistics snapshot's: one lives in every stored bucket. In
 * memory a sketch buffers up to 512 values before compressing (compressing more often costs more
 * than the values); stored, a sketch of up to `ROLLUP_EXACT_VALUES` values keeps them all (at most
 * 517 bytes), and a larger one at most about 100 centroids (about 1.6 KB), with a rank error near 1%.
 */
export const ROLLUP_SKETCH: QuantileSketchOptions = { compression: 100, maxBuffer: 512 };
export const ROLLUP_EXACT_VALUES = 64;

export interface FieldRollup {
  /** Values present (a missing optional value is not counted). */
  count: number;
  sum: number;
  min: number;
  max: number;
  sumSq: number;
  /**
   * The quantile sketch; null while `count` ≤ 2, when `min` and `max` are the values themselves. Most
   * minute buckets of most series hold one or two values, and a sketch object each would dominate
   * the cost of a rollup. Use `sketchOf` to read it.
   */
  sketch: QuantileSketch | null;
}

export interface RollupCell {
  /** Key column values, in layout order. */
  readonly keys: readonly string[];
  /** Bucket start, microseconds since the epoch. */
  readonly bucketUs: number;
  rows: number;
  readonly fields: FieldRollup[];
}

export function emptyFieldRollup(): FieldRollup {
  return {
    count: 0,
    sum: 0,
    min: Infinity,
    max: -Infinity,
    sumSq: 0,
    sketch: null,
  };
}

/** The values of a rollup that keeps no sketch yet (count ≤ 2). */
function smallValues(r: FieldRollup, out: (x: number) => void): void {
  if (r.count >= 1) out(r.min);
  if (r.count === 2) out(r.max);
}

/** The field's sketch, made from its values when it has none yet; the rollup keeps it. */
export function sketchOf(r: FieldRollup): QuantileSketch {
  if (r.sketch !== null) return r.sketch;
  const s = new QuantileSketch(ROLLUP_SKETCH);
  smallValues(r, (x) => s.add(x));
  if (r.count > 2) r.sketch = s;
  return s;
}

export function emptyCell(keys: readonly string[], bucketUs: number, fieldCount: number): RollupCell {
  const fields: FieldRollup[] = [];
  for (let f = 0; f < fieldCount; f++) fields.push(emptyFieldRollup());
  return { keys, bucketUs, rows: 0, fields };
}

export function addValue(r: FieldRollup, x: number): void {
  if (x !== x) return;
  if (r.count === 2 && r.sketch === null) r.sketch = sketchOf(r);
  if (r.sketch !== null) r.sketch.add(x);
  r.count++;
  r.sum += x;
  r.sumSq += x * x;
  if (x < r.min) r.min = x;
  if (x > r.max) r.max = x;
}

/** Folds `from` into `into`; `from` is unchanged. */
export function mergeField(into: FieldRollup, from: FieldRollup): void {
  if (from.count === 0) return;
  if (into.count + from.count > 2) {
    const own = sketchOf(into);
    if (from.sketch !== null) own.merge(from.sketch);
    else smallValues(from, (x) => own.add(x));
    into.sketch = own;
  }
  into.count += from.count;
  into.sum += from.sum;
  into.sumSq += from.sumSq;
  if (from.min < into.min) into.min = from.min;
  if (from.max > into.max) into.max = from.max;
}

export function mergeCell(into: RollupCell, from: RollupCell): void {
  into.rows += from.rows;
  for (let f = 0; f < into.fields.length; f++) mergeField(into.fields[f]!, from.fields[f]!);
}

export function bucketOf(timeUs: number, resolution: RollupResolution): number {
  const width = RESOLUTION_US[resolution];
  return Math.floor(timeUs / width) * width;
}

/** Key values joined for map identity; stores reject U+001F in key values, so joins are unique. */
export function seriesIdOf(keys: readonly string[]): string {
  return keys.join('\u001f');
}

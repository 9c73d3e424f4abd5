import type { DatasetLayout } from '../core/dataset.js';
import { SluiceError } from '../core/errors.js';
import { TimeSlicer } from '../core/time-slicer.js';
import { FieldStats, FieldStatsTable, type StatsValues } from './field-stats.js';
import type { QuantileSketchOptions } from './quantile-sketch.js';
import { StatsReader, StatsWriter } from './stats-codec.js';

/** Checkpoint bytes: 'SST1', a version, then one dataset's state (see `StatsSnapshot.encode`). */
const CHECKPOINT_MAGIC = 0x31545353;
const CHECKPOINT_VERSION = 1;

/**
 * The in-memory statistics behind `GET /v1/datasets/{name}/stats`: answered from memory, never from
 * a scan. The Applier folds every applied batch in; at start the snapshot is rebuilt by scanning the
 * store. Per dataset it keeps one accumulator per field for the whole dataset, and, for each key
 * column separately, one per field per distinct key value.
 *
 * Replace-mode datasets get the whole-dataset accumulators only. Each of their keys names one row
 * (served by `GET …/records/{key}`), so per-key statistics would say nothing new, while keeping them
 * costs hundreds of bytes per row: gigabytes for a catalog of ten million ids.
 */

/** Whether a dataset gets per-key statistics: append mode yes, replace mode no (see above). */
export function keepsPerKeyStats(layout: DatasetLayout): boolean {
  return layout.spec.mode !== 'replace';
}

export interface FieldSummary {
  count: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  /** Population standard deviation (divides by n, like DuckDB's `stddev_pop`). */
  stddev: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /** Value at the earliest event time (the first row seen wins ties); null without a time column. */
  first: { time: string; value: number } | null;
  /** Value at the latest event time (the last row seen wins ties); null without a time column. */
  last: { time: string; value: number } | null;
}

/** The columns the snapshot reads; `ColumnarBatch` and `ScanChunk` both fit. */
export interface StatsColumns {
  length: number;
  keys: string[][];
  timeUs: Float64Array | null;
  fields: Float64Array[];
}

/**
 * The whole-dataset sketches see every value, so a larger buffer buys throughput; per-key sketches
 * are many and mostly small, so theirs stays small. One shared options object keeps each sketch
 * from holding its own.
 */
const WHOLE_SKETCH: QuantileSketchOptions = { maxBuffer: 4096 };
const PER_KEY_SKETCH: QuantileSketchOptions = { maxBuffer: 256 };

/** Keys encoded between two looks at the clock (`encodeInSlices`): a few hundred microseconds' worth. */
const KEYS_PER_STEP = 256;

/** The accumulators of one key column: a row of `fieldCount` accumulators per distinct value. */
class KeyIndex {
  private readonly rows = new Map<string, number>();
  readonly table = new FieldStatsTable(PER_KEY_SKETCH);

  constructor(private readonly fieldCount: number) {}

  get size(): number {
    return this.rows.size;
  }

  /** Index of the first accumulator of `key`'s row, created on first sight. */
  rowOf(key: string): number {
    let first = this.rows.get(key);
    if (first === undefined) {
      first = this.table.allocate(this.fieldCount);
      this.rows.set(key, first);
    }
    return first;
  }

  find(key: string): number | undefined {
    return this.rows.get(key);
  }

  keys(): IterableIterator<string> {
    return this.rows.keys();
  }
}

class DatasetStats {
  readonly fieldNames: readonly string[];
  readonly keyColumns: readonly string[];
  rows = 0;
  readonly whole: FieldStats[];
  /** One index per key column; empty when the dataset keeps no per-key statistics. */
  readonly byKey: KeyIndex[];
  readonly perKey: boolean;

  constructor(layout: DatasetLayout) {
    this.perKey = keepsPerKeyStats(layout);
    this.fieldNames = layout.fields.map((c) => c.name);
    this.keyColumns = layout.keys.map((c) => c.name);
    this.whole = this.fieldNames.map(() => new FieldStats(WHOLE_SKETCH));
    this.byKey = this.perKey ? this.keyColumns.map(() => new KeyIndex(this.fieldNames.length)) : [];
  }

  fits(layout: DatasetLayout): boolean {
    return (
      this.perKey === keepsPerKeyStats(layout) &&
      sameNames(
        this.fieldNames,
        layout.fields.map((c) => c.name),
      ) &&
      sameNames(
        this.keyColumns,
        layout.keys.map((c) => c.name),
      )
    );
  }
}

export class StatsSnapshot {
  private readonly datasets = new Map<string, DatasetStats>();

  /**
   * Fold the rows of a batch (or scan chunk) into the dataset's snapshot, rows [from, to) of it (all
   * by default: a caller may fold a large batch in slices). `keep[i]===0` skips row i.
   * A layout whose key or field columns differ from the ones the snapshot was built with is a bug
   * in the caller (it must `clear` and rebuild after a schema change), so it throws.
   */
  add(layout: DatasetLayout, cols: StatsColumns, keep?: Uint8Array, from = 0, to = cols.length): void {
    const name = layout.spec.name;
    let stats = this.datasets.get(name);
    if (stats === undefined) {
      stats = new DatasetStats(layout);
      this.datasets.set(name, stats);
    } else if (!stats.fits(layout)) {
      throw new SluiceError('internal', `the stats snapshot of ${name} was built for other columns`);
    }
    // Key columns are checked only where they are read: a decoded batch decodes them on first use.
    if (
      cols.fields.length !== stats.fieldNames.length ||
      (stats.byKey.length > 0 && cols.keys.length !== stats.keyColumns.length)
    )
      throw new SluiceError('internal', `batch columns do not match the layout of ${name}`);

    let kept = to - from;
    if (keep !== undefined) {
      kept = 0;
      for (let i = from; i < to; i++) if (keep[i] !== 0) kept++;
    }
    if (kept === 0) return;
    stats.rows += kept;

    // One tight loop per accumulator kind, each in its own function so each is optimised alone.
    for (let f = 0; f < stats.whole.length; f++)
      foldWhole(stats.whole[f], cols.fields[f], cols.timeUs, from, to, keep);
    for (let k = 0; k < stats.byKey.length; k++) foldKeyColumn(stats.byKey[k], cols, k, keep, from, to);
  }

  /**
   * Summary for the whole dataset, or for rows whose key column `keyColumn` equals `keyValue`.
   * undefined when the dataset or the key value has no rows, when `keyColumn` is not a key column,
   * and for any key of a dataset without per-key statistics (replace mode; `keepsPerKeyStats`
   * tells that case apart).
   */
  summary(dataset: string, keyColumn?: string, keyValue?: string): Record<string, FieldSummary> | undefined {
    const stats = this.datasets.get(dataset);
    if (stats === undefined || stats.rows === 0) return undefined;
    const names = stats.fieldNames;
    // fromEntries defines own properties, so a field named `__proto__` stays a field.
    if (keyColumn === undefined)
      return Object.fromEntries(
        names.map((name, f) => [name, summarize(stats.whole[f].values(), (q) => stats.whole[f].quantile(q))]),
      );
    const k = stats.keyColumns.indexOf(keyColumn);
    if (k < 0 || keyValue === undefined || !stats.perKey) return undefined;
    const { table } = stats.byKey[k];
    const first = stats.byKey[k].find(keyValue);
    if (first === undefined) return undefined;
    return Object.fromEntries(
      names.map((name, f) => [name, summarize(table.values(first + f), (q) => table.quantile(first + f, q))]),
    );
  }

  /**
   * Number of distinct values seen for a key column (for listings); 0 for a dataset without
   * per-key statistics, which does not count them.
   */
  keyCount(dataset: string, keyColumn: string): number {
    const stats = this.datasets.get(dataset);
    if (stats === undefined || !stats.perKey) return 0;
    const k = stats.keyColumns.indexOf(keyColumn);
    return k < 0 ? 0 : stats.byKey[k].size;
  }

  /** Distinct values seen for a key column (entity polling over a dataset's keys); empty without per-key statistics. */
  keysOf(dataset: string, keyColumn: string): string[] {
    const stats = this.datasets.get(dataset);
    const k = stats?.keyColumns.indexOf(keyColumn) ?? -1;
    return stats?.perKey && k >= 0 ? [...stats.byKey[k]!.keys()] : [];
  }

  /**
   * The dataset's state as bytes (statistics checkpoints), or undefined when it has none. Field and
   * key column names go first, so `decode` can tell a checkpoint made for other columns.
   */
  encode(dataset: string): Buffer | undefined {
    const steps = this.encodeSteps(dataset);
    let step = steps.next();
    while (step.done !== true) step = steps.next();
    return step.value;
  }

  /**
   * `encode`, giving the event loop back every `sliceMs`. A dataset with a hundred thousand keys takes
   * about half a second to encode, and done in one go that stalls everything else on the loop: entity
   * polls due meanwhile start late, queries wait. The caller keeps the dataset from changing until the
   * promise settles (the Applier holds its turn); a change seen anyway makes the encoding throw.
   */
  async encodeInSlices(dataset: string, sliceMs: number): Promise<Buffer | undefined> {
    const steps = this.encodeSteps(dataset);
    const slicer = new TimeSlicer(sliceMs);
    for (;;) {
      const step = steps.next();
      if (step.done === true) return step.value;
      if (slicer.due) await slicer.pause();
    }
  }

  /** Writes the encoding, pausing (yield) every `KEYS_PER_STEP` keys; returns the bytes. */
  private *encodeSteps(dataset: string): Generator<void, Buffer | undefined> {
    const stats = this.datasets.get(dataset);
    if (stats === undefined) return undefined;
    const w = new StatsWriter();
    w.u32(CHECKPOINT_MAGIC);
    w.u32(CHECKPOINT_VERSION);
    w.u32(stats.perKey ? 1 : 0);
    for (const names of [stats.fieldNames, stats.keyColumns]) {
      w.u32(names.length);
      for (const n of names) w.text(n);
    }
    w.f64(stats.rows);
    for (const acc of stats.whole) acc.write(w);
    for (const index of stats.byKey) {
      const size = index.size;
      w.u32(size);
      let written = 0;
      for (const key of index.keys()) {
        w.text(key);
        const first = index.find(key)!;
        for (let f = 0; f < stats.fieldNames.length; f++) index.table.writeAt(first + f, w);
        if (++written % KEYS_PER_STEP === 0) yield;
      }
      if (written !== size)
        throw new SluiceError('internal', `the statistics of ${dataset} changed while being encoded`);
    }
    return w.finish();
  }

  /**
   * Replaces the dataset's state with one `encode` made. False, leaving the snapshot as it was, when
   * the bytes were made for other columns; a damaged checkpoint throws.
   */
  decode(layout: DatasetLayout, bytes: Uint8Array): boolean {
    const r = new StatsReader(bytes);
    if (r.u32() !== CHECKPOINT_MAGIC || r.u32() !== CHECKPOINT_VERSION)
      throw new SluiceError('internal', 'not a statistics checkpoint');
    const stats = new DatasetStats(layout);
    const perKey = r.u32() === 1;
    const names = (): string[] => Array.from({ length: r.u32() }, () => r.text());
    const fields = names();
    const keys = names();
    if (perKey !== stats.perKey || !sameNames(fields, stats.fieldNames) || !sameNames(keys, stats.keyColumns))
      return false;
    stats.rows = r.f64();
    for (const acc of stats.whole) acc.read(r);
    for (const index of stats.byKey) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const first = index.rowOf(r.text());
        for (let f = 0; f < fields.length; f++) index.table.readAt(first + f, r);
      }
    }
    if (!r.done) throw new SluiceError('internal', 'statistics checkpoint has trailing bytes');
    this.datasets.set(layout.spec.name, stats);
    return true;
  }

  /** Forget a dataset (dropped, or replaced by a new version). */
  clear(dataset: string): void {
    this.datasets.delete(dataset);
  }

  /**
   * Swap in the dataset's state from a snapshot built aside (replace mode builds the next version's
   * snapshot while readers use the current one). The state moves: `from` forgets the dataset. When
   * `from` has nothing for it, the dataset ends up empty here too.
   */
  replace(dataset: string, from: StatsSnapshot): void {
    const next = from.datasets.get(dataset);
    from.datasets.delete(dataset);
    if (next === undefined) this.datasets.delete(dataset);
    else this.datasets.set(dataset, next);
  }
}

function foldWhole(
  acc: FieldStats,
  values: Float64Array,
  times: Float64Array | null,
  from: number,
  to: number,
  keep: Uint8Array | undefined,
): void {
  for (let i = from; i < to; i++) {
    if (keep !== undefined && keep[i] === 0) continue;
    acc.addAt(values, times, i);
  }
}

function foldKeyColumn(
  index: KeyIndex,
  cols: StatsColumns,
  k: number,
  keep: Uint8Array | undefined,
  from: number,
  to: number,
): void {
  const { table } = index;
  const keyValues = cols.keys[k];
  const { fields, timeUs: times } = cols;
  const fieldCount = fields.length;
  // Rows of one key often come together; remembering the last one skips most map lookups.
  let lastKey: string | undefined;
  let first = -1;
  for (let i = from; i < to; i++) {
    if (keep !== undefined && keep[i] === 0) continue;
    const key = keyValues[i];
    if (key !== lastKey || first < 0) {
      first = index.rowOf(key);
      lastKey = key;
    }
    for (let f = 0; f < fieldCount; f++) table.addAt(first + f, fields[f], times, i);
  }
}

/** The summary of a field with no values. */
export const EMPTY_SUMMARY: Readonly<FieldSummary> = Object.freeze({
  count: 0,
  min: null,
  max: null,
  mean: null,
  stddev: null,
  p50: null,
  p95: null,
  p99: null,
  first: null,
  last: null,
});

function summarize(v: StatsValues, quantile: (q: number) => number): FieldSummary {
  if (v.count === 0) return { ...EMPTY_SUMMARY };
  return {
    count: v.count,
    min: v.min,
    max: v.max,
    mean: v.mean,
    stddev: v.stddev,
    p50: quantile(0.5),
    p95: quantile(0.95),
    p99: quantile(0.99),
    first: v.firstTimeUs === v.firstTimeUs ? { time: isoFromUs(v.firstTimeUs), value: v.firstValue } : null,
    last: v.lastTimeUs === v.lastTimeUs ? { time: isoFromUs(v.lastTimeUs), value: v.lastValue } : null,
  };
}

/** ISO 8601 in UTC with milliseconds; floor keeps times before 1970 in the right millisecond. */
function isoFromUs(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

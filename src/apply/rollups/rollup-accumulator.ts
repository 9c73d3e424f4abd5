import type { DatasetLayout } from '../../core/dataset.js';
import {
  ROLLUP_RESOLUTIONS,
  addValue,
  bucketOf,
  emptyCell,
  mergeCell,
  seriesIdOf,
  type RollupCell,
  type RollupResolution,
} from './rollup-cell.js';

/** Rows in columnar form, as a ColumnarBatch or a ScanChunk holds them. */
export interface RollupRows {
  readonly length: number;
  readonly keys: readonly (readonly string[])[];
  readonly timeUs: Float64Array | null;
  readonly fields: readonly Float64Array[];
}

export type RollupDeltas = Record<RollupResolution, RollupCell[]>;

/**
 * Deltas per full series, and, for datasets with several key columns, per value of each key column
 * alone: top-K by one column over a long window then reads one cell per value and bucket rather than
 * one per series (a request log keyed by user, endpoint and status has far more series than endpoints).
 */
export interface RollupDeltaSet {
  full: RollupDeltas;
  /** Key column name to deltas keyed by that column only; empty for a single key column. */
  byColumn: Record<string, RollupDeltas>;
}

/** Merges single-key minute cells into cells of a coarser resolution. */
function coarsen(minutes: readonly RollupCell[], res: RollupResolution): RollupCell[] {
  const out = new Map<string, Map<number, RollupCell>>();
  for (const m of minutes) {
    const value = m.keys[0]!;
    let buckets = out.get(value);
    if (buckets === undefined) out.set(value, (buckets = new Map()));
    const bucket = bucketOf(m.bucketUs, res);
    let cell = buckets.get(bucket);
    if (cell === undefined) buckets.set(bucket, (cell = emptyCell(m.keys, bucket, m.fields.length)));
    mergeCell(cell, m);
  }
  const flat: RollupCell[] = [];
  for (const buckets of out.values()) for (const cell of buckets.values()) flat.push(cell);
  return flat;
}

/** Merges cells into cells keyed by one key column (`keyIndex`) and the same bucket. */
function projectCells(cells: readonly RollupCell[], keyIndex: number): RollupCell[] {
  const out = new Map<string, Map<number, RollupCell>>();
  for (const c of cells) {
    const value = c.keys[keyIndex]!;
    let buckets = out.get(value);
    if (buckets === undefined) out.set(value, (buckets = new Map()));
    let cell = buckets.get(c.bucketUs);
    if (cell === undefined) buckets.set(c.bucketUs, (cell = emptyCell([value], c.bucketUs, c.fields.length)));
    mergeCell(cell, c);
  }
  const flat: RollupCell[] = [];
  for (const buckets of out.values()) for (const cell of buckets.values()) flat.push(cell);
  return flat;
}

/**
 * Collects the rollup contribution of rows not yet stored, for one dataset: 1-minute cells are built
 * row by row, and the 1-hour and 1-day cells are merged from them when the deltas are taken, so each
 * row costs one map lookup. Rows without a time have no bucket and are not rolled up.
 */
export class RollupAccumulator {
  /** Series id, then 1-minute bucket start: a number-keyed inner map saves a string per row. */
  private minutes = new Map<string, Map<number, RollupCell>>();
  private rowCount = 0;

  constructor(readonly layout: DatasetLayout) {}

  /** Rows added since the last `take`. */
  get pendingRows(): number {
    return this.rowCount;
  }

  /** Adds the rows whose `keep[i]` is 1 (all when `keep` is undefined). */
  add(rows: RollupRows, keep?: Uint8Array): void {
    const time = rows.timeUs;
    if (time === null) return;
    const nk = rows.keys.length;
    const nf = rows.fields.length;
    const single = nk === 1 ? rows.keys[0]! : null;
    const keyValues: string[] = new Array<string>(nk);
    let lastId: string | undefined;
    let buckets: Map<number, RollupCell> | undefined;
    for (let r = 0; r < rows.length; r++) {
      if (keep !== undefined && keep[r] !== 1) continue;
      const t = time[r]!;
      if (t !== t) continue;
      let id: string;
      if (single !== null) id = single[r]!;
      else {
        for (let k = 0; k < nk; k++) keyValues[k] = rows.keys[k]![r]!;
        id = seriesIdOf(keyValues);
      }
      if (id !== lastId || buckets === undefined) {
        buckets = this.minutes.get(id);
        if (buckets === undefined) this.minutes.set(id, (buckets = new Map()));
        lastId = id;
      }
      const bucket = bucketOf(t, '1m');
      let cell = buckets.get(bucket);
      if (cell === undefined) {
        const keys = single !== null ? [id] : keyValues.slice();
        buckets.set(bucket, (cell = emptyCell(keys, bucket, nf)));
      }
      cell.rows++;
      for (let f = 0; f < nf; f++) addValue(cell.fields[f]!, rows.fields[f]![r]!);
      this.rowCount++;
    }
  }

  /** The deltas collected so far; the accumulator starts empty again. */
  take(): RollupDeltaSet {
    const full = this.takeFull();
    const byColumn: Record<string, RollupDeltas> = {};
    // A column's minute cells come from the full series' minute cells; its hours and days from its
    // own minutes, which are far fewer than the full series' hours.
    if (this.layout.keys.length > 1)
      this.layout.keys.forEach((k, i) => {
        const minutes = projectCells(full['1m'], i);
        byColumn[k.name] = { '1m': minutes, '1h': coarsen(minutes, '1h'), '1d': coarsen(minutes, '1d') };
      });
    return { full, byColumn };
  }

  private takeFull(): RollupDeltas {
    const series = this.minutes;
    this.minutes = new Map();
    this.rowCount = 0;
    const deltas: RollupDeltas = { '1m': [], '1h': [], '1d': [] };
    for (const buckets of series.values()) {
      for (const res of ROLLUP_RESOLUTIONS) {
        if (res === '1m') continue;
        let prev: RollupCell | undefined;
        // Minute buckets arrive mostly in time order, so the coarse cell is usually the previous one.
        const coarse = new Map<number, RollupCell>();
        for (const m of buckets.values()) {
          const bucket = bucketOf(m.bucketUs, res);
          let cell = prev !== undefined && prev.bucketUs === bucket ? prev : coarse.get(bucket);
          if (cell === undefined) coarse.set(bucket, (cell = emptyCell(m.keys, bucket, m.fields.length)));
          mergeCell(cell, m);
          prev = cell;
        }
        for (const c of coarse.values()) deltas[res].push(c);
      }
      for (const m of buckets.values()) deltas['1m'].push(m);
    }
    return deltas;
  }
}

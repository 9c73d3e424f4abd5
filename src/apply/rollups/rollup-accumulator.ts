import type { DatasetLayout } from '../../core/dataset.js';
import {
  addValue,
  bucketOf,
  emptyCell,
  mergeCell,
  seriesIdOf,
  type RollupCell,
  type RollupResolution,
} from './rollup-cell.js';
import { rollupLevelsOf, type RollupLevel } from './rollup-levels.js';

/** Rows in columnar form, as a ColumnarBatch or a ScanChunk holds them. */
export interface RollupRows {
  readonly length: number;
  readonly keys: readonly (readonly string[])[];
  readonly timeUs: Float64Array | null;
  readonly fields: readonly Float64Array[];
}

/** One level's new cells, per kept resolution. */
export interface LevelDeltas {
  readonly level: RollupLevel;
  readonly cells: Partial<Record<RollupResolution, RollupCell[]>>;
}

/** The deltas of every rollup level of a dataset, in `rollupLevelsOf` order. */
export type RollupDeltaSet = readonly LevelDeltas[];

/** Merges a level's finest cells (series, then bucket) into cells of a coarser resolution. */
function coarsen(series: Iterable<Map<number, RollupCell>>, res: RollupResolution): RollupCell[] {
  const out: RollupCell[] = [];
  for (const buckets of series) {
    // Fine buckets arrive mostly in time order, so the coarse cell is usually the previous one.
    const coarse = new Map<number, RollupCell>();
    let prev: RollupCell | undefined;
    for (const m of buckets.values()) {
      const bucket = bucketOf(m.bucketUs, res);
      let cell = prev !== undefined && prev.bucketUs === bucket ? prev : coarse.get(bucket);
      if (cell === undefined) coarse.set(bucket, (cell = emptyCell(m.keys, bucket, m.fields.length)));
      mergeCell(cell, m);
      prev = cell;
    }
    for (const c of coarse.values()) out.push(c);
  }
  return out;
}

/** The cells of one level at its finest kept resolution: series id, then bucket start. */
class LevelCells {
  series = new Map<string, Map<number, RollupCell>>();
  private readonly finest: RollupResolution;
  private readonly keyValues: string[];

  constructor(readonly level: RollupLevel) {
    this.finest = level.resolutions[0]!;
    this.keyValues = new Array<string>(level.keyIndexes.length);
  }

  add(rows: RollupRows, time: Float64Array, keep: Uint8Array | undefined): void {
    const idx = this.level.keyIndexes;
    const nf = rows.fields.length;
    // One key column: its value is the series id, with no string built per row.
    const single = idx.length === 1 ? rows.keys[idx[0]!]! : null;
    const keyValues = this.keyValues;
    let lastId: string | undefined;
    let buckets: Map<number, RollupCell> | undefined;
    for (let r = 0; r < rows.length; r++) {
      if (keep !== undefined && keep[r] !== 1) continue;
      const t = time[r]!;
      if (t !== t) continue;
      let id: string;
      if (single !== null) id = single[r]!;
      else {
        for (let k = 0; k < idx.length; k++) keyValues[k] = rows.keys[idx[k]!]![r]!;
        id = seriesIdOf(keyValues);
      }
      if (id !== lastId || buckets === undefined) {
        buckets = this.series.get(id);
        if (buckets === undefined) this.series.set(id, (buckets = new Map()));
        lastId = id;
      }
      const bucket = bucketOf(t, this.finest);
      let cell = buckets.get(bucket);
      if (cell === undefined) {
        const keys = single !== null ? [id] : keyValues.slice();
        buckets.set(bucket, (cell = emptyCell(keys, bucket, nf)));
      }
      cell.rows++;
      for (let f = 0; f < nf; f++) addValue(cell.fields[f]!, rows.fields[f]![r]!);
    }
  }

  take(): LevelDeltas {
    const series = this.series;
    this.series = new Map();
    const cells: Partial<Record<RollupResolution, RollupCell[]>> = {};
    const [finest, ...coarser] = this.level.resolutions;
    for (const res of coarser) cells[res] = coarsen(series.values(), res);
    const fine: RollupCell[] = [];
    for (const buckets of series.values()) for (const c of buckets.values()) fine.push(c);
    cells[finest!] = fine;
    return { level: this.level, cells };
  }
}

/**
 * Collects the rollup contribution of rows not yet stored, for one dataset: each level folds rows into
 * cells of its finest resolution, one map lookup a row, and its coarser cells are merged from those
 * when the deltas are taken. Rows without a time have no bucket and are not rolled up.
 */
export class RollupAccumulator {
  private readonly levels: LevelCells[];
  private rowCount = 0;

  constructor(readonly layout: DatasetLayout) {
    this.levels = rollupLevelsOf(layout).map((l) => new LevelCells(l));
  }

  /** Rows added since the last `take`. */
  get pendingRows(): number {
    return this.rowCount;
  }

  /** Adds the rows whose `keep[i]` is 1 (all when `keep` is undefined). */
  add(rows: RollupRows, keep?: Uint8Array): void {
    const time = rows.timeUs;
    if (time === null || this.levels.length === 0) return;
    for (const level of this.levels) level.add(rows, time, keep);
    let n = 0;
    for (let r = 0; r < rows.length; r++)
      if ((keep === undefined || keep[r] === 1) && time[r] === time[r]) n++;
    this.rowCount += n;
  }

  /** The deltas collected so far; the accumulator starts empty again. */
  take(): RollupDeltaSet {
    this.rowCount = 0;
    return this.levels.map((l) => l.take());
  }
}

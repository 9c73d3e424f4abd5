import type { DatasetLayout } from '../../core/dataset.js';
import type { TimeSlicer } from '../../core/time-slicer.js';
import { LevelRows, buildBlock, type CellBlock } from './cell-block.js';
import type { RollupResolution } from './rollup-cell.js';
import { sameSeries } from './series-index.js';
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
  readonly blocks: Partial<Record<RollupResolution, CellBlock>>;
}

/** The deltas of every rollup level of a dataset, in `rollupLevelsOf` order. */
export type RollupDeltaSet = readonly LevelDeltas[];

/** The rows one level folds, with its series interned by their key values. */
class LevelFold {
  private rows: LevelRows;

  constructor(
    readonly level: RollupLevel,
    private readonly fieldCount: number,
  ) {
    this.rows = new LevelRows(fieldCount, level.keyIndexes);
  }

  add(rows: RollupRows, time: Float64Array, keep: Uint8Array | undefined): void {
    const idx = this.level.keyIndexes;
    const out = this.rows;
    // Rows of one series often come together: a row like the last one needs no lookup.
    let last = -1;
    let series = -1;
    for (let r = 0; r < rows.length; r++) {
      if (keep !== undefined && keep[r] !== 1) continue;
      const t = time[r]!;
      if (t !== t) continue;
      if (last < 0 || !sameSeries(rows.keys, idx, r, last)) series = out.seriesOfRow(rows.keys, r);
      last = r;
      out.push(series, t, rows.fields, r);
    }
  }

  async take(slicer: TimeSlicer): Promise<LevelDeltas> {
    const rows = this.rows;
    this.rows = new LevelRows(this.fieldCount, this.level.keyIndexes);
    const blocks: Partial<Record<RollupResolution, CellBlock>> = {};
    for (const res of this.level.resolutions) blocks[res] = await buildBlock(rows, res, slicer);
    return { level: this.level, blocks };
  }
}

/**
 * Collects the rollup contribution of rows not yet stored, for one dataset: each level keeps the
 * rows' series, times and values in typed arrays, and taking the deltas builds every resolution's
 * cells from them in one pass each (see cell-block.ts). Rows without a time have no bucket and are
 * not rolled up.
 */
export class RollupAccumulator {
  private readonly levels: LevelFold[];
  private rowCount = 0;

  constructor(readonly layout: DatasetLayout) {
    this.levels = rollupLevelsOf(layout).map((l) => new LevelFold(l, layout.fields.length));
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

  /**
   * The deltas collected so far; the accumulator starts empty again. The building pauses at the ends
   * of `slicer`'s slices, so queries on the same thread are answered in between.
   */
  async take(slicer: TimeSlicer): Promise<RollupDeltaSet> {
    this.rowCount = 0;
    const out: LevelDeltas[] = [];
    for (const level of this.levels) out.push(await level.take(slicer));
    return out;
  }
}

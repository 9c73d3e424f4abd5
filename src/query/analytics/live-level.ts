import {
  RESOLUTION_US,
  rowSeriesId,
  seriesIdOf,
  type RollupResolution,
} from '../../apply/rollups/rollup-cell.js';
import type { RollupRows } from '../../apply/rollups/rollup-accumulator.js';
import type { RollupLevel } from '../../apply/rollups/rollup-levels.js';
import { CellTable } from './cell-table.js';
import { coldBlockOf } from './cold-rollup-blocks.js';

/** A series of a level in memory: its key values and one cell table per kept resolution. */
export interface LiveSeries {
  readonly keys: readonly string[];
  /** One per kept resolution of the level, in `level.resolutions` order. */
  readonly tables: CellTable[];
}

/** One rollup level's cells in memory, while it has no more than the allowed number of series. */
export class LiveLevel {
  readonly series = new Map<string, LiveSeries>();
  readonly widths: number[];
  private readonly keyValues: string[];

  constructor(
    readonly level: RollupLevel,
    private readonly fieldCount: number,
  ) {
    this.widths = level.resolutions.map((r) => RESOLUTION_US[r]);
    this.keyValues = new Array<string>(level.keyIndexes.length);
  }

  seriesOf(keys: readonly string[]): LiveSeries {
    const id = seriesIdOf(keys);
    let s = this.series.get(id);
    if (s === undefined) {
      s = { keys: [...keys], tables: this.level.resolutions.map(() => new CellTable(this.fieldCount)) };
      this.series.set(id, s);
    }
    return s;
  }

  /**
   * Adds rows [from, to) whose `keep` is 1; false when the level passed `maxSeries` series (its cells
   * are then incomplete and must be dropped). `late` hears of rows before a resolution's live span.
   */
  add(
    rows: RollupRows,
    keep: Uint8Array | undefined,
    from: number,
    to: number,
    liveFrom: readonly number[],
    maxSeries: number,
    late: (res: RollupResolution, bucketUs: number) => void,
  ): boolean {
    const time = rows.timeUs!;
    const idx = this.level.keyIndexes;
    const keyValues = this.keyValues;
    const widths = this.widths;
    let lastId: string | undefined;
    let s: LiveSeries | undefined;
    // Late rows come in runs (a backfill): tell of each cold block once per run, not once per row.
    const lastLate = widths.map(() => NaN);
    for (let r = from; r < to; r++) {
      if (keep !== undefined && keep[r] !== 1) continue;
      const t = time[r]!;
      if (t !== t) continue;
      const id = rowSeriesId(rows.keys, idx, r, keyValues);
      if (id !== lastId || s === undefined) {
        s = this.series.get(id);
        if (s === undefined) {
          if (this.series.size >= maxSeries) return false;
          s = this.seriesOf(idx.length === 1 ? [id] : keyValues);
        }
        lastId = id;
      }
      for (let i = 0; i < widths.length; i++) {
        const w = widths[i]!;
        const b = Math.floor(t / w) * w;
        if (b < liveFrom[i]!) {
          const res = this.level.resolutions[i]!;
          const block = coldBlockOf(b, res);
          if (block !== lastLate[i]) late(res, block);
          lastLate[i] = block;
          continue;
        }
        const table = s.tables[i]!;
        table.addRow(table.cellAt(b), rows.fields, r);
      }
    }
    return true;
  }
}

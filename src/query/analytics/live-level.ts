import { RESOLUTION_US, type RollupResolution } from '../../apply/rollups/rollup-cell.js';
import { SeriesIndex, sameSeries } from '../../apply/rollups/series-index.js';
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
  /** In order of first sight; `index` numbers them. */
  readonly series: LiveSeries[] = [];
  readonly widths: number[];
  private readonly index: SeriesIndex;

  constructor(
    readonly level: RollupLevel,
    private readonly fieldCount: number,
  ) {
    this.widths = level.resolutions.map((r) => RESOLUTION_US[r]);
    this.index = new SeriesIndex(level.keyIndexes.length);
  }

  seriesOf(keys: readonly string[]): LiveSeries {
    const n = this.index.ofValues(keys, true);
    if (n === this.series.length)
      this.series.push({
        keys: [...keys],
        tables: this.level.resolutions.map(() => new CellTable(this.fieldCount)),
      });
    return this.series[n]!;
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
    const widths = this.widths;
    // Rows of one series often come together: a row like the last one needs no lookup.
    let last = -1;
    let s: LiveSeries | undefined;
    // Late rows come in runs (a backfill): tell of each cold block once per run, not once per row.
    const lastLate = widths.map(() => NaN);
    for (let r = from; r < to; r++) {
      if (keep !== undefined && keep[r] !== 1) continue;
      const t = time[r]!;
      if (t !== t) continue;
      if (s === undefined || !sameSeries(rows.keys, idx, r, last)) {
        const n = this.index.ofRow(rows.keys, idx, r, false);
        if (n >= 0) s = this.series[n]!;
        else if (this.series.length >= maxSeries) return false;
        else s = this.seriesOf(idx.map((c) => rows.keys[c]![r]!));
      }
      last = r;
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

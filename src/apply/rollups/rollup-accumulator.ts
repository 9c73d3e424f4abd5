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
 * Collects the rollup contribution of rows not yet stored, for one dataset: 1-minute cells are built
 * row by row, and the 1-hour and 1-day cells are merged from them when the deltas are taken, so each
 * row costs one map lookup. Rows without a time have no bucket and are not rolled up.
 */
export class RollupAccumulator {
  private minutes = new Map<string, RollupCell>();
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
    const keyValues: string[] = new Array<string>(nk);
    for (let r = 0; r < rows.length; r++) {
      if (keep !== undefined && keep[r] !== 1) continue;
      const t = time[r]!;
      if (t !== t) continue;
      for (let k = 0; k < nk; k++) keyValues[k] = rows.keys[k]![r]!;
      const bucket = bucketOf(t, '1m');
      const id = `${seriesIdOf(keyValues)}\u001e${bucket}`;
      let cell = this.minutes.get(id);
      if (cell === undefined) {
        cell = emptyCell(keyValues.slice(), bucket, nf);
        this.minutes.set(id, cell);
      }
      cell.rows++;
      for (let f = 0; f < nf; f++) addValue(cell.fields[f]!, rows.fields[f]![r]!);
      this.rowCount++;
    }
  }

  /** The deltas collected so far, per resolution; the accumulator starts empty again. */
  take(): RollupDeltas {
    const minutes = [...this.minutes.values()];
    this.minutes = new Map();
    this.rowCount = 0;
    const deltas: RollupDeltas = { '1m': minutes, '1h': [], '1d': [] };
    for (const res of ROLLUP_RESOLUTIONS) {
      if (res === '1m') continue;
      const coarse = new Map<string, RollupCell>();
      for (const m of minutes) {
        const bucket = bucketOf(m.bucketUs, res);
        const id = `${seriesIdOf(m.keys)}\u001e${bucket}`;
        let cell = coarse.get(id);
        if (cell === undefined) {
          cell = emptyCell(m.keys, bucket, m.fields.length);
          coarse.set(id, cell);
        }
        mergeCell(cell, m);
      }
      deltas[res] = [...coarse.values()];
    }
    return deltas;
  }
}

import { QuantileSketch, exactSketchSize, writeExactSketch } from '../../query/quantile-sketch.js';
import {
  RESOLUTION_US,
  ROLLUP_EXACT_VALUES,
  ROLLUP_SKETCH,
  emptyCell,
  type RollupCell,
  type RollupResolution,
} from './rollup-cell.js';

/**
 * Rollup cells of one level and resolution in columnar form: typed arrays with one slot per cell
 * rather than an object (and a sketch object) per cell. A flush builds blocks straight from the rows
 * it folds, and the store writes them into its tables column by column, so the cost per row is a
 * couple of map lookups and the garbage per flush a few arrays, however many cells there are.
 */
export interface CellBlock {
  readonly size: number;
  /** Key values of each series, in the level's column order; cells point into it. */
  readonly seriesKeys: readonly (readonly string[])[];
  readonly seriesOf: Int32Array;
  /** Bucket start, microseconds since the epoch. */
  readonly bucketUs: Float64Array;
  /** Rows in the cell (with or without a value of each field). */
  readonly rows: Float64Array;
  readonly fields: readonly FieldColumns[];
}

export interface FieldColumns {
  readonly count: Float64Array;
  readonly sum: Float64Array;
  /** +Infinity / -Infinity where the cell has no value. */
  readonly min: Float64Array;
  readonly max: Float64Array;
  readonly sumSq: Float64Array;
  /**
   * Each cell's sketch as `QuantileSketch.toBytes` makes it, `bytes[start[c], start[c] + length[c])`;
   * length 0 where the cell holds at most two values, which are then its min and max.
   */
  readonly sketch: { bytes: Uint8Array; start: Int32Array; length: Int32Array };
}

/**
 * The rows a flush folds into one level: each row's series (interned), time and field values, in
 * growing typed arrays.
 */
export class LevelRows {
  private readonly seriesIds = new Map<string, number>();
  readonly seriesKeys: string[][] = [];
  length = 0;
  seriesOf = new Int32Array(1024);
  timeUs = new Float64Array(1024);
  readonly values: Float64Array[];

  constructor(readonly fieldCount: number) {
    this.values = Array.from({ length: fieldCount }, () => new Float64Array(1024));
  }

  /** The index of the series `id` names; `keys` makes its key values on first sight. */
  seriesOfId(id: string, keys: () => string[]): number {
    let s = this.seriesIds.get(id);
    if (s === undefined) {
      s = this.seriesKeys.length;
      this.seriesIds.set(id, s);
      this.seriesKeys.push(keys());
    }
    return s;
  }

  push(series: number, timeUs: number, fields: readonly Float64Array[], row: number): void {
    if (this.length === this.seriesOf.length) this.grow();
    const i = this.length++;
    this.seriesOf[i] = series;
    this.timeUs[i] = timeUs;
    for (let f = 0; f < this.fieldCount; f++) this.values[f]![i] = fields[f]![row]!;
  }

  private grow(): void {
    const cap = this.seriesOf.length * 2;
    const grow = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.seriesOf = grow(this.seriesOf, (n) => new Int32Array(n));
    this.timeUs = grow(this.timeUs, (n) => new Float64Array(n));
    for (let f = 0; f < this.fieldCount; f++)
      this.values[f] = grow(this.values[f]!, (n) => new Float64Array(n));
  }
}

/** Cells of `res` over the rows: each row goes to the cell of its series and bucket. */
export function buildBlock(rows: LevelRows, res: RollupResolution): CellBlock {
  const n = rows.length;
  const width = RESOLUTION_US[res];
  const cellOf = new Int32Array(n);
  const seriesOf = new Int32Array(n);
  const bucketUs = new Float64Array(n);
  let size = 0;
  // A cell's key is one number, series × buckets in the span + bucket, while that stays exact.
  let lo = Infinity;
  let hi = -Infinity;
  for (let r = 0; r < n; r++) {
    const b = Math.floor(rows.timeUs[r]! / width);
    if (b < lo) lo = b;
    if (b > hi) hi = b;
  }
  const span = hi - lo + 1;
  const numeric = n === 0 || span * rows.seriesKeys.length < 2 ** 52;
  const byNumber = new Map<number, number>();
  const byText = new Map<string, number>();
  for (let r = 0; r < n; r++) {
    const s = rows.seriesOf[r]!;
    const b = Math.floor(rows.timeUs[r]! / width);
    let c = numeric ? byNumber.get(s * span + (b - lo)) : byText.get(`${s}:${b}`);
    if (c === undefined) {
      c = size++;
      if (numeric) byNumber.set(s * span + (b - lo), c);
      else byText.set(`${s}:${b}`, c);
      seriesOf[c] = s;
      bucketUs[c] = b * width;
    }
    cellOf[r] = c;
  }
  const cellRows = new Float64Array(size);
  for (let r = 0; r < n; r++) cellRows[cellOf[r]!]++;
  const fields = rows.values.map((values) => fieldColumns(values, n, cellOf, size));
  return {
    size,
    seriesKeys: rows.seriesKeys,
    seriesOf: seriesOf.subarray(0, size),
    bucketUs: bucketUs.subarray(0, size),
    rows: cellRows,
    fields,
  };
}

function fieldColumns(values: Float64Array, n: number, cellOf: Int32Array, size: number): FieldColumns {
  const count = new Float64Array(size);
  const sum = new Float64Array(size);
  const min = new Float64Array(size).fill(Infinity);
  const max = new Float64Array(size).fill(-Infinity);
  const sumSq = new Float64Array(size);
  for (let r = 0; r < n; r++) {
    const x = values[r]!;
    if (x !== x) continue;
    const c = cellOf[r]!;
    count[c]++;
    sum[c] += x;
    sumSq[c] += x * x;
    if (x < min[c]!) min[c] = x;
    if (x > max[c]!) max[c] = x;
  }
  return { count, sum, min, max, sumSq, sketch: sketchColumn(values, n, cellOf, count) };
}

/** Groups each cell's values together (a counting sort by cell), then writes each cell's sketch. */
function sketchColumn(
  values: Float64Array,
  n: number,
  cellOf: Int32Array,
  count: Float64Array,
): FieldColumns['sketch'] {
  const size = count.length;
  const first = new Int32Array(size + 1);
  for (let c = 0; c < size; c++) first[c + 1] = first[c]! + count[c]!;
  const cursor = first.slice(0, size);
  const grouped = new Float64Array(first[size]!);
  for (let r = 0; r < n; r++) {
    const x = values[r]!;
    if (x === x) grouped[cursor[cellOf[r]!]!++] = x;
  }
  // Cells past ROLLUP_EXACT_VALUES are compressed first, so the exact size of every sketch is known.
  const compressed = new Map<number, Uint8Array>();
  let total = 0;
  for (let c = 0; c < size; c++) {
    const k = count[c]!;
    if (k <= 2) continue;
    if (k <= ROLLUP_EXACT_VALUES) {
      total += exactSketchSize(k);
      continue;
    }
    const sketch = new QuantileSketch(ROLLUP_SKETCH);
    sketch.addAll(grouped, first[c]!, first[c]! + k);
    const b = sketch.toBytes(ROLLUP_EXACT_VALUES);
    compressed.set(c, b);
    total += b.length;
  }
  const start = new Int32Array(size);
  const length = new Int32Array(size);
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (let c = 0; c < size; c++) {
    const k = count[c]!;
    if (k <= 2) continue;
    start[c] = at;
    const b = compressed.get(c);
    if (b !== undefined) {
      bytes.set(b, at);
      length[c] = b.length;
    } else {
      const mine = grouped.subarray(first[c]!, first[c]! + k).sort();
      writeExactSketch(mine, k, view, at);
      length[c] = exactSketchSize(k);
    }
    at += length[c]!;
  }
  return { bytes, start, length };
}

/** Cell `c` of a block as an object, for merging with a stored cell. */
export function cellOf(block: CellBlock, c: number): RollupCell {
  const cell = emptyCell(block.seriesKeys[block.seriesOf[c]!]!, block.bucketUs[c]!, block.fields.length);
  cell.rows = block.rows[c]!;
  block.fields.forEach((f, i) => {
    const r = cell.fields[i]!;
    r.count = f.count[c]!;
    r.sum = f.sum[c]!;
    r.min = f.min[c]!;
    r.max = f.max[c]!;
    r.sumSq = f.sumSq[c]!;
    const len = f.sketch.length[c]!;
    if (len > 0) {
      const at = f.sketch.start[c]!;
      r.sketch = QuantileSketch.fromBytes(f.sketch.bytes.subarray(at, at + len), ROLLUP_SKETCH);
    }
  });
  return cell;
}

/** A block of the given cells (merged cells, few), with their sketches written as a flush would. */
export function blockOfCells(cells: readonly RollupCell[], fieldCount: number): CellBlock {
  const size = cells.length;
  const seriesKeys = cells.map((c) => c.keys);
  const fields: FieldColumns[] = Array.from({ length: fieldCount }, (_, f) => {
    const sketches = cells.map((c) => {
      const r = c.fields[f]!;
      return r.count > 2 && r.sketch !== null ? r.sketch.toBytes(ROLLUP_EXACT_VALUES) : null;
    });
    const start = new Int32Array(size);
    const length = new Int32Array(size);
    const bytes = new Uint8Array(sketches.reduce((n, b) => n + (b?.length ?? 0), 0));
    let at = 0;
    sketches.forEach((b, c) => {
      if (b === null) return;
      bytes.set(b, at);
      start[c] = at;
      length[c] = b.length;
      at += b.length;
    });
    const column = (pick: (c: RollupCell) => number) => Float64Array.from(cells, pick);
    return {
      count: column((c) => c.fields[f]!.count),
      sum: column((c) => c.fields[f]!.sum),
      min: column((c) => c.fields[f]!.min),
      max: column((c) => c.fields[f]!.max),
      sumSq: column((c) => c.fields[f]!.sumSq),
      sketch: { bytes, start, length },
    };
  });
  return {
    size,
    seriesKeys,
    seriesOf: Int32Array.from(cells, (_, i) => i),
    bucketUs: Float64Array.from(cells, (c) => c.bucketUs),
    rows: Float64Array.from(cells, (c) => c.rows),
    fields,
  };
}

import { sortDoubles } from '../../core/sort-doubles.js';
import { TimeSlicer } from '../../core/time-slicer.js';
import { SeriesIndex } from './series-index.js';
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
  private readonly index: SeriesIndex;
  readonly seriesKeys: string[][] = [];
  length = 0;
  seriesOf = new Int32Array(1024);
  timeUs = new Float64Array(1024);
  readonly values: Float64Array[];

  constructor(
    readonly fieldCount: number,
    private readonly keyIndexes: readonly number[],
  ) {
    this.index = new SeriesIndex(keyIndexes.length);
    this.values = Array.from({ length: fieldCount }, () => new Float64Array(1024));
  }

  /** The index of row `r`'s series (its values in the level's key columns), numbered on first sight. */
  seriesOfRow(keys: readonly (readonly string[])[], r: number): number {
    const idx = this.keyIndexes;
    const s = this.index.ofRow(keys, idx, r, true);
    if (s === this.seriesKeys.length) this.seriesKeys.push(idx.map((c) => keys[c]![r]!));
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

/**
 * Longest stretch of rollup building or merging between two pauses. The series store thread also
 * answers queries (top-K, history, series), which otherwise waited a quarter of a second behind one
 * flush of a request log's cells.
 */
export const ROLLUP_SLICE_MS = 4;

/** Rows between two looks at the clock in the per-row loops below. */
const ROWS_PER_LOOK = 8192;

/**
 * Cells of `res` over the rows: each row goes to the cell of its series and bucket. Building the
 * sketches of tens of thousands of cells takes a fraction of a second, so the work pauses at the
 * ends of `slicer`'s slices: the thread's other calls (queries) run in between.
 */
export async function buildBlock(
  rows: LevelRows,
  res: RollupResolution,
  slicer: TimeSlicer,
): Promise<CellBlock> {
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
    if (r % ROWS_PER_LOOK === 0 && slicer.due) await slicer.pause();
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
  const fields: FieldColumns[] = [];
  for (const values of rows.values) fields.push(await fieldColumns(values, n, cellOf, size, slicer));
  return {
    size,
    seriesKeys: rows.seriesKeys,
    seriesOf: seriesOf.subarray(0, size),
    bucketUs: bucketUs.subarray(0, size),
    rows: cellRows,
    fields,
  };
}

async function fieldColumns(
  values: Float64Array,
  n: number,
  cellOf: Int32Array,
  size: number,
  slicer: TimeSlicer,
): Promise<FieldColumns> {
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
  return { count, sum, min, max, sumSq, sketch: await sketchColumn(values, n, cellOf, count, slicer) };
}

/** Groups each cell's values together (a counting sort by cell), then writes each cell's sketch. */
async function sketchColumn(
  values: Float64Array,
  n: number,
  cellOf: Int32Array,
  count: Float64Array,
  slicer: TimeSlicer,
): Promise<FieldColumns['sketch']> {
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
    if (slicer.due) await slicer.pause();
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
    if (slicer.due) await slicer.pause();
    start[c] = at;
    const b = compressed.get(c);
    if (b !== undefined) {
      bytes.set(b, at);
      length[c] = b.length;
    } else {
      const mine = grouped.subarray(first[c]!, first[c]! + k);
      sortDoubles(mine);
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

/**
 * A block of the given cells (merged with stored ones: the open hour and day of every active series),
 * with their sketches written as a flush would, pausing at the ends of `slicer`'s slices.
 */
export async function blockOfCells(
  cells: readonly RollupCell[],
  fieldCount: number,
  slicer: TimeSlicer,
): Promise<CellBlock> {
  const size = cells.length;
  const fields: FieldColumns[] = [];
  for (let f = 0; f < fieldCount; f++) {
    const count = new Float64Array(size);
    const sum = new Float64Array(size);
    const min = new Float64Array(size);
    const max = new Float64Array(size);
    const sumSq = new Float64Array(size);
    const sketches = new Array<Uint8Array | null>(size);
    let total = 0;
    for (let c = 0; c < size; c++) {
      if (slicer.due) await slicer.pause();
      const r = cells[c]!.fields[f]!;
      count[c] = r.count;
      sum[c] = r.sum;
      min[c] = r.min;
      max[c] = r.max;
      sumSq[c] = r.sumSq;
      const b = r.count > 2 && r.sketch !== null ? r.sketch.toBytes(ROLLUP_EXACT_VALUES) : null;
      sketches[c] = b;
      if (b !== null) total += b.length;
    }
    const start = new Int32Array(size);
    const length = new Int32Array(size);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (let c = 0; c < size; c++) {
      if (c % ROWS_PER_LOOK === 0 && slicer.due) await slicer.pause();
      const b = sketches[c];
      if (!b) continue;
      bytes.set(b, at);
      start[c] = at;
      length[c] = b.length;
      at += b.length;
    }
    fields.push({ count, sum, min, max, sumSq, sketch: { bytes, start, length } });
  }
  const seriesKeys = new Array<readonly string[]>(size);
  const seriesOf = new Int32Array(size);
  const bucketUs = new Float64Array(size);
  const rows = new Float64Array(size);
  for (let c = 0; c < size; c++) {
    const cell = cells[c]!;
    seriesKeys[c] = cell.keys;
    seriesOf[c] = c;
    bucketUs[c] = cell.bucketUs;
    rows[c] = cell.rows;
  }
  return { size, seriesKeys, seriesOf, bucketUs, rows, fields };
}

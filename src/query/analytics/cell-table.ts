import type { FieldAggregate } from '../../store/series-store.js';

/**
 * A cell's numbers, packed: the bucket's row count, then per field its count, sum, min, max and sum
 * of squares. `strideOf(fields)` numbers per cell.
 */
export const FIELD_PARTS = 5;

export const strideOf = (fieldCount: number): number => 1 + FIELD_PARTS * fieldCount;

/** Writes an empty cell (no rows, min +∞, max −∞) at `at`. */
export function clearCell(data: Float64Array, at: number, fieldCount: number): void {
  data[at] = 0;
  for (let f = 0; f < fieldCount; f++) {
    const o = at + 1 + FIELD_PARTS * f;
    data[o] = 0;
    data[o + 1] = 0;
    data[o + 2] = Infinity;
    data[o + 3] = -Infinity;
    data[o + 4] = 0;
  }
}

/** Adds the cell at `from[fromAt]` into the one at `into[intoAt]`. */
export function mergeCellInto(
  into: Float64Array,
  intoAt: number,
  from: Float64Array,
  fromAt: number,
  fieldCount: number,
): void {
  into[intoAt] += from[fromAt]!;
  for (let f = 0; f < fieldCount; f++) {
    const i = intoAt + 1 + FIELD_PARTS * f;
    const j = fromAt + 1 + FIELD_PARTS * f;
    into[i] += from[j]!;
    into[i + 1] += from[j + 1]!;
    if (from[j + 2]! < into[i + 2]!) into[i + 2] = from[j + 2]!;
    if (from[j + 3]! > into[i + 3]!) into[i + 3] = from[j + 3]!;
    into[i + 4] += from[j + 4]!;
  }
}

/** Writes a stored aggregate (a rollup read's group) as the cell at `at`. */
export function writeCell(
  data: Float64Array,
  at: number,
  rows: number,
  fields: readonly FieldAggregate[],
): void {
  data[at] = rows;
  fields.forEach((a, f) => {
    const o = at + 1 + FIELD_PARTS * f;
    data[o] = a.count;
    data[o + 1] = a.sum;
    data[o + 2] = a.count > 0 ? a.min : Infinity;
    data[o + 3] = a.count > 0 ? a.max : -Infinity;
    data[o + 4] = a.sumSq;
  });
}

/** The field's aggregate of the cell at `at`, as a rollup read returns it (min and max NaN when empty). */
export function fieldAggregateOf(data: Float64Array, at: number, f: number): FieldAggregate {
  const o = at + 1 + FIELD_PARTS * f;
  const count = data[o]!;
  return {
    count,
    sum: data[o + 1]!,
    min: count > 0 ? data[o + 2]! : NaN,
    max: count > 0 ? data[o + 3]! : NaN,
    sumSq: data[o + 4]!,
  };
}

/**
 * One series' cells at one resolution, by bucket start: one typed array for all of them and a map
 * from bucket to offset, so a cell costs its numbers and a map entry, not an object.
 */
export class CellTable {
  private readonly offsets = new Map<number, number>();
  private data: Float64Array;
  private used = 0;
  private lastBucket = NaN;
  private lastAt = 0;

  constructor(private readonly fieldCount: number) {
    this.data = new Float64Array(strideOf(fieldCount) * 8);
  }

  get size(): number {
    return this.offsets.size;
  }

  /** The numbers of every cell; read it again after `cellAt`, which may grow it. */
  get values(): Float64Array {
    return this.data;
  }

  /** Offset of the bucket's cell, made empty when it has none. Rows mostly come in time order. */
  cellAt(bucketUs: number): number {
    if (bucketUs === this.lastBucket) return this.lastAt;
    let at = this.offsets.get(bucketUs);
    if (at === undefined) {
      const stride = strideOf(this.fieldCount);
      at = this.used * stride;
      if (at + stride > this.data.length) {
        const grown = new Float64Array(this.data.length * 2);
        grown.set(this.data);
        this.data = grown;
      }
      clearCell(this.data, at, this.fieldCount);
      this.offsets.set(bucketUs, at);
      this.used++;
    }
    this.lastBucket = bucketUs;
    this.lastAt = at;
    return at;
  }

  /** Adds row `r` of `fields` (NaN: value missing) to the cell at `at`. */
  addRow(at: number, fields: readonly Float64Array[], r: number): void {
    const d = this.data;
    d[at]++;
    for (let f = 0; f < this.fieldCount; f++) {
      const x = fields[f]![r]!;
      if (x !== x) continue;
      const o = at + 1 + FIELD_PARTS * f;
      d[o]++;
      d[o + 1] += x;
      if (x < d[o + 2]!) d[o + 2] = x;
      if (x > d[o + 3]!) d[o + 3] = x;
      d[o + 4] += x * x;
    }
  }

  /** Calls `fn` with the offset of every cell whose bucket is in [fromUs, toUs), `widthUs` apart. */
  forEachIn(fromUs: number, toUs: number, widthUs: number, fn: (at: number, bucketUs: number) => void): void {
    // Few buckets in the stretch: look each one up; many: walk the cells instead.
    if ((toUs - fromUs) / widthUs <= this.offsets.size) {
      for (let b = fromUs; b < toUs; b += widthUs) {
        const at = this.offsets.get(b);
        if (at !== undefined) fn(at, b);
      }
      return;
    }
    for (const [b, at] of this.offsets) if (b >= fromUs && b < toUs) fn(at, b);
  }

  /** Drops the cells whose bucket is before `beforeUs` and packs the rest; the cells dropped. */
  dropBefore(beforeUs: number): number {
    const kept = [...this.offsets].filter(([b]) => b >= beforeUs);
    const dropped = this.offsets.size - kept.length;
    if (dropped === 0) return 0;
    const stride = strideOf(this.fieldCount);
    const data = new Float64Array(Math.max(8, kept.length * 2) * stride);
    this.offsets.clear();
    kept.forEach(([b, at], i) => {
      data.set(this.data.subarray(at, at + stride), i * stride);
      this.offsets.set(b, i * stride);
    });
    this.data = data;
    this.used = kept.length;
    this.lastBucket = NaN;
    return dropped;
  }
}

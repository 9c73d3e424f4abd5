import { QuantileSketch, type QuantileSketchOptions } from './quantile-sketch.js';
import type { StatsReader, StatsWriter } from './stats-codec.js';

/**
 * Running statistics of one numeric field: count, min, max, mean and variance, the values at the
 * earliest and latest event time, and a quantile sketch. Accumulators merge, so a snapshot can be
 * built in parts (or aside, for replace mode) and combined.
 *
 * Mean and variance use Welford's update (and Chan et al.'s formula to merge), which stays accurate
 * where the naive sum-of-squares loses every digit (large values with a small spread).
 *
 * The numbers live in a Float64Array, `STATS_STRIDE` slots per accumulator, rather than in object
 * fields: V8 boxes every double field in its own heap object, so a million per-key accumulators
 * would cost several times the memory and a cache miss per field on every update. `FieldStats` is
 * one accumulator; `FieldStatsTable` is many (one per key value and field) in one array.
 */

export const STATS_STRIDE = 9;
const COUNT = 0;
const MIN = 1;
const MAX = 2;
const MEAN = 3;
/** Sum of squared deviations from the mean. */
const M2 = 4;
/** Event time (µs) and value of the earliest row; NaN time until a timed value arrives. */
const FIRST_TIME = 5;
const FIRST_VALUE = 6;
const LAST_TIME = 7;
const LAST_VALUE = 8;

function initStats(s: Float64Array, o: number): void {
  s[o + COUNT] = 0;
  s[o + MIN] = Infinity;
  s[o + MAX] = -Infinity;
  s[o + MEAN] = 0;
  s[o + M2] = 0;
  s[o + FIRST_TIME] = NaN;
  s[o + FIRST_VALUE] = NaN;
  s[o + LAST_TIME] = NaN;
  s[o + LAST_VALUE] = NaN;
}

/**
 * Adds row `i` of `values` at event time `times[i]` (`times` null when rows have no time); a NaN value
 * is missing and ignored, and the result is then false. Rows are passed as arrays and an index, never
 * as numbers, and the time is read only where it is used: a double passed to a call V8 did not inline
 * is boxed in a heap object of its own, and so was `times === null ? NaN : times[i]` even where all
 * was inlined. The statistics fold runs on the event loop for every row of every batch, and those boxes
 * were a third of what the event loop allocated during an ingest.
 */
function addStatsAt(
  s: Float64Array,
  o: number,
  values: Float64Array,
  times: Float64Array | null,
  i: number,
): boolean {
  const value = values[i];
  if (value !== value) return false;
  const n = ++s[o + COUNT];
  if (value < s[o + MIN]) s[o + MIN] = value;
  if (value > s[o + MAX]) s[o + MAX] = value;
  const mean = s[o + MEAN];
  const delta = value - mean;
  const next = mean + delta / n;
  s[o + MEAN] = next;
  s[o + M2] += delta * (value - next);
  if (times === null) return true;
  const timeUs = times[i];
  if (timeUs === timeUs) {
    // Ties: the first row seen stays first, the last row seen becomes last.
    if (!(timeUs >= s[o + FIRST_TIME])) {
      s[o + FIRST_TIME] = timeUs;
      s[o + FIRST_VALUE] = value;
    }
    if (!(timeUs < s[o + LAST_TIME])) {
      s[o + LAST_TIME] = timeUs;
      s[o + LAST_VALUE] = value;
    }
  }
  return true;
}

/** Folds accumulator `b` into `a` as if its values had been added after `a`'s. */
function mergeStats(a: Float64Array, ao: number, b: Float64Array, bo: number): void {
  const nb = b[bo + COUNT];
  if (nb === 0) return;
  const na = a[ao + COUNT];
  const n = na + nb;
  const delta = b[bo + MEAN] - a[ao + MEAN];
  a[ao + M2] += b[bo + M2] + (delta * delta * na * nb) / n;
  a[ao + MEAN] += (delta * nb) / n;
  a[ao + COUNT] = n;
  if (b[bo + MIN] < a[ao + MIN]) a[ao + MIN] = b[bo + MIN];
  if (b[bo + MAX] > a[ao + MAX]) a[ao + MAX] = b[bo + MAX];
  const bFirst = b[bo + FIRST_TIME];
  if (bFirst === bFirst && !(bFirst >= a[ao + FIRST_TIME])) {
    a[ao + FIRST_TIME] = bFirst;
    a[ao + FIRST_VALUE] = b[bo + FIRST_VALUE];
  }
  const bLast = b[bo + LAST_TIME];
  if (bLast === bLast && !(bLast < a[ao + LAST_TIME])) {
    a[ao + LAST_TIME] = bLast;
    a[ao + LAST_VALUE] = b[bo + LAST_VALUE];
  }
}

/** The statistics of one accumulator; NaN where there is no value. */
export interface StatsValues {
  count: number;
  min: number;
  max: number;
  mean: number;
  /** Population standard deviation (divides by n, like DuckDB's `stddev_pop`). */
  stddev: number;
  firstTimeUs: number;
  firstValue: number;
  lastTimeUs: number;
  lastValue: number;
}

function readStats(s: Float64Array, o: number): StatsValues {
  const count = s[o + COUNT];
  const empty = count === 0;
  return {
    count,
    min: empty ? NaN : s[o + MIN],
    max: empty ? NaN : s[o + MAX],
    mean: empty ? NaN : s[o + MEAN],
    stddev: empty ? NaN : Math.sqrt(Math.max(0, s[o + M2] / count)),
    firstTimeUs: s[o + FIRST_TIME],
    firstValue: s[o + FIRST_VALUE],
    lastTimeUs: s[o + LAST_TIME],
    lastValue: s[o + LAST_VALUE],
  };
}

const NO_SKETCH = new Uint8Array(0);

/** A sketch as a checkpoint stores it: every value while it is exact, so it reads back the same. */
function sketchBytes(sketch: QuantileSketch | undefined): Uint8Array {
  return sketch === undefined || sketch.count === 0 ? NO_SKETCH : sketch.toBytes();
}

/** One accumulator. */
export class FieldStats {
  private readonly state = new Float64Array(STATS_STRIDE);
  private sketch: QuantileSketch;

  /** `seed` staggers this sketch's merges from those of sketches filled alongside it. */
  constructor(
    private readonly sketchOptions?: QuantileSketchOptions,
    private readonly seed = 0,
  ) {
    initStats(this.state, 0);
    this.sketch = new QuantileSketch(sketchOptions, seed);
  }

  write(w: StatsWriter): void {
    w.f64s(this.state, 0, STATS_STRIDE);
    w.bytes(sketchBytes(this.sketch));
  }

  /** Replaces this accumulator with one `write` stored. */
  read(r: StatsReader): void {
    r.f64s(this.state, 0, STATS_STRIDE);
    this.sketch = QuantileSketch.fromBytes(r.bytes(), this.sketchOptions, this.seed);
  }

  get count(): number {
    return this.state[COUNT];
  }

  /**
   * Adds row `i`: the value `values[i]` at event time `times[i]` (`times` null when rows have no
   * time; the value then counts for every statistic except first/last). A NaN value is missing and
   * ignored.
   */
  addAt(values: Float64Array, times: Float64Array | null, i: number): void {
    if (addStatsAt(this.state, 0, values, times, i)) this.sketch.addAt(values, i);
  }

  /** Folds `other` in as if its values had been added after this one's; `other` is unchanged. */
  merge(other: FieldStats): void {
    mergeStats(this.state, 0, other.state, 0);
    this.sketch.merge(other.sketch);
  }

  values(): StatsValues {
    return readStats(this.state, 0);
  }

  quantile(q: number): number {
    return this.sketch.quantile(q);
  }
}

/** Accumulators per page of a `FieldStatsTable` (288 KiB of state). */
const PAGE_BITS = 12;
const PAGE_SIZE = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SIZE - 1;

/**
 * Many accumulators addressed by a dense index (row × field count + field), as the snapshot keeps
 * per key value. Sketches are created on a row's first value.
 *
 * The state lives in fixed-size pages rather than one array that doubles: copying a doubling array
 * of a million keys' state takes tens of milliseconds on the event loop, and leaves up to half of it
 * unused. The first page grows by doubling, so a table of a few keys stays small.
 */
export class FieldStatsTable {
  private readonly pages: Float64Array[];
  private readonly sketches: (QuantileSketch | undefined)[] = [];
  private used = 0;

  constructor(
    private readonly sketchOptions: QuantileSketchOptions,
    initialCapacity = 16,
  ) {
    this.pages = [new Float64Array(Math.min(PAGE_SIZE, Math.max(1, initialCapacity)) * STATS_STRIDE)];
  }

  /** Number of accumulators allocated. */
  get size(): number {
    return this.used;
  }

  /** Allocates `n` fresh accumulators and returns the index of the first. */
  allocate(n: number): number {
    const first = this.used;
    for (let i = first; i < first + n; i++) {
      const page = i >>> PAGE_BITS;
      if (page === this.pages.length) this.pages.push(new Float64Array(PAGE_SIZE * STATS_STRIDE));
      else if (page === 0 && i * STATS_STRIDE === this.pages[0].length) this.growFirstPage();
      initStats(this.pages[page], (i & PAGE_MASK) * STATS_STRIDE);
      this.sketches.push(undefined); // keeps the array dense
    }
    this.used = first + n;
    return first;
  }

  private growFirstPage(): void {
    const small = this.pages[0];
    const grown = new Float64Array(Math.min(PAGE_SIZE * STATS_STRIDE, small.length * 2));
    grown.set(small);
    this.pages[0] = grown;
  }

  /** `FieldStats.addAt` for accumulator `index`. */
  addAt(index: number, values: Float64Array, times: Float64Array | null, i: number): void {
    if (!addStatsAt(this.pages[index >>> PAGE_BITS], (index & PAGE_MASK) * STATS_STRIDE, values, times, i))
      return;
    let sketch = this.sketches[index];
    // Seeded by index, so the sketches of keys that take values in turn merge on different batches.
    if (sketch === undefined)
      this.sketches[index] = sketch = new QuantileSketch(this.sketchOptions, index + 1);
    sketch.addAt(values, i);
  }

  values(index: number): StatsValues {
    return readStats(this.pages[index >>> PAGE_BITS], (index & PAGE_MASK) * STATS_STRIDE);
  }

  writeAt(index: number, w: StatsWriter): void {
    w.f64s(this.pages[index >>> PAGE_BITS], (index & PAGE_MASK) * STATS_STRIDE, STATS_STRIDE);
    w.bytes(sketchBytes(this.sketches[index]));
  }

  /** Replaces an allocated accumulator with one `writeAt` stored. */
  readAt(index: number, r: StatsReader): void {
    r.f64s(this.pages[index >>> PAGE_BITS], (index & PAGE_MASK) * STATS_STRIDE, STATS_STRIDE);
    const bytes = r.bytes();
    this.sketches[index] =
      bytes.length === 0 ? undefined : QuantileSketch.fromBytes(bytes, this.sketchOptions, index + 1);
  }

  /** NaN when the accumulator has no value. */
  quantile(index: number, q: number): number {
    return this.sketches[index]?.quantile(q) ?? NaN;
  }
}

import { QuantileSketch, type QuantileSketchOptions } from './quantile-sketch.js';

/**
 * Running statistics of one numeric field: count, min, max, mean and variance, the values at the
 * earliest and latest event time, and a quantile sketch. Accumulators merge, so a snapshot can be
 * built in parts (or aside, for replace mode) and combined.
 *
 * Mean and variance use Welford's update (and Chan et al.'s formula to merge), which stays accurate
 * where the naive sum-of-squares loses every digit (large values with a small spread).
 */
export class FieldStats {
  count = 0;
  min = Infinity;
  max = -Infinity;
  mean = 0;
  /** Sum of squared deviations from the mean. */
  m2 = 0;
  /** Event time (µs) and value of the earliest row; NaN time until a timed value arrives. */
  firstTimeUs = NaN;
  firstValue = NaN;
  lastTimeUs = NaN;
  lastValue = NaN;
  readonly sketch: QuantileSketch;

  constructor(sketchOptions?: QuantileSketchOptions) {
    this.sketch = new QuantileSketch(sketchOptions);
  }

  /**
   * Adds one value at event time `timeUs` (NaN when the row has no time; it then counts for every
   * statistic except first/last). A NaN value is missing and ignored.
   */
  add(value: number, timeUs: number): void {
    if (value !== value) return;
    const n = ++this.count;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    const delta = value - this.mean;
    this.mean += delta / n;
    this.m2 += delta * (value - this.mean);
    if (timeUs === timeUs) {
      // Ties: the first row seen stays first, the last row seen becomes last.
      if (!(timeUs >= this.firstTimeUs)) {
        this.firstTimeUs = timeUs;
        this.firstValue = value;
      }
      if (!(timeUs < this.lastTimeUs)) {
        this.lastTimeUs = timeUs;
        this.lastValue = value;
      }
    }
    this.sketch.add(value);
  }

  /** Folds `other` in as if its values had been added after this one's; `other` is unchanged. */
  merge(other: FieldStats): void {
    if (other.count === 0) return;
    const n = this.count + other.count;
    const delta = other.mean - this.mean;
    this.m2 += other.m2 + (delta * delta * this.count * other.count) / n;
    this.mean += (delta * other.count) / n;
    this.count = n;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    if (other.firstTimeUs < this.firstTimeUs || this.firstTimeUs !== this.firstTimeUs) {
      if (other.firstTimeUs === other.firstTimeUs) {
        this.firstTimeUs = other.firstTimeUs;
        this.firstValue = other.firstValue;
      }
    }
    if (other.lastTimeUs >= this.lastTimeUs || this.lastTimeUs !== this.lastTimeUs) {
      if (other.lastTimeUs === other.lastTimeUs) {
        this.lastTimeUs = other.lastTimeUs;
        this.lastValue = other.lastValue;
      }
    }
    this.sketch.merge(other.sketch);
  }

  /** Population standard deviation (divides by n, like DuckDB's `stddev_pop`); NaN when empty. */
  stddev(): number {
    return this.count === 0 ? NaN : Math.sqrt(Math.max(0, this.m2 / this.count));
  }

  quantile(q: number): number {
    return this.sketch.quantile(q);
  }
}

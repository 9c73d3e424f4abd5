/**
 * A per-series baseline that sets its own thresholds: either the median and the median absolute
 * deviation of the last `history` values (robust: a few outliers move neither), or an exponentially
 * weighted mean and variance. A value is anomalous when its distance from the centre is more than
 * `sensitivity` scales. Until `warmup` values have been seen it judges nothing.
 */
export interface BaselineState {
  /** Recent values, oldest first (median/MAD). */
  values: number[];
  /** EWMA mean and variance. */
  mean: number;
  variance: number;
  seen: number;
}

export interface BaselineVerdict {
  warmingUp: boolean;
  anomalous: boolean;
  /** Signed distance from the centre in scales. */
  score: number;
  centre: number;
  lower: number;
  upper: number;
}

export interface BaselineOptions {
  method: 'mad' | 'ewma';
  history: number;
  warmup: number;
  sensitivity: number;
  direction: 'both' | 'up' | 'down';
}

/** 1.4826 × MAD estimates the standard deviation of normally distributed values. */
const MAD_TO_SIGMA = 1.4826;
/**
 * Lower bound of the scale, relative to the centre: a perfectly flat series (MAD 0) would otherwise
 * flag any change at all, however small.
 */
const MIN_RELATIVE_SCALE = 0.01;

export class RobustBaseline {
  readonly state: BaselineState;

  constructor(
    private readonly opts: BaselineOptions,
    state?: BaselineState,
  ) {
    this.state = state ? structuredClone(state) : { values: [], mean: 0, variance: 0, seen: 0 };
  }

  private get alpha(): number {
    return 2 / (this.opts.history + 1);
  }

  /** Judges `x` against what was seen before it, then learns it. */
  observe(x: number): BaselineVerdict {
    const verdict = this.judge(x);
    this.learn(x);
    return verdict;
  }

  judge(x: number): BaselineVerdict {
    const { centre, scale } = this.centreAndScale();
    const score = (x - centre) / scale;
    const warmingUp = this.state.seen < this.opts.warmup;
    const k = this.opts.sensitivity;
    const beyond =
      this.opts.direction === 'up'
        ? score > k
        : this.opts.direction === 'down'
          ? score < -k
          : Math.abs(score) > k;
    return {
      warmingUp,
      anomalous: !warmingUp && beyond,
      score,
      centre,
      lower: centre - k * scale,
      upper: centre + k * scale,
    };
  }

  private centreAndScale(): { centre: number; scale: number } {
    const s = this.state;
    let centre: number;
    let spread: number;
    if (this.opts.method === 'mad') {
      centre = median(s.values);
      spread = MAD_TO_SIGMA * median(s.values.map((v) => Math.abs(v - centre)));
    } else {
      centre = s.mean;
      // The variance starts at 0 and grows into its level; dividing by the weight it has gathered
      // so far removes that start-up bias (as Adam does for its moments).
      const gathered = 1 - (1 - this.alpha) ** Math.max(1, s.seen - 1);
      spread = Math.sqrt(s.variance / gathered);
    }
    return { centre, scale: Math.max(spread, Math.abs(centre) * MIN_RELATIVE_SCALE, 1e-9) };
  }

  /** Adds `x` to what is normal without judging it. */
  learn(x: number): void {
    const s = this.state;
    s.seen++;
    s.values.push(x);
    if (s.values.length > this.opts.history) s.values.splice(0, s.values.length - this.opts.history);
    if (s.seen === 1) {
      s.mean = x;
      s.variance = 0;
      return;
    }
    // EWMA with the span of `history` values; West's incremental variance.
    const alpha = this.alpha;
    const diff = x - s.mean;
    s.mean += alpha * diff;
    s.variance = (1 - alpha) * (s.variance + alpha * diff * diff);
  }
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

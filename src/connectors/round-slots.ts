/**
 * The slots of one round of an entity poll: entity i of n is due at `start + i·interval/n`, so calls are
 * spread evenly over the interval instead of bursting at its start. Pure arithmetic on clock times.
 */
export class RoundSlots {
  /** Clock ms between two consecutive slots. */
  readonly stepMs: number;

  constructor(
    readonly startMs: number,
    readonly count: number,
    readonly intervalMs: number,
  ) {
    if (!(intervalMs > 0)) throw new Error('a round needs a positive interval');
    this.stepMs = count > 0 ? intervalMs / count : intervalMs;
  }

  /** Clock time at which slot `i` is due. */
  dueAt(i: number): number {
    return this.startMs + i * this.stepMs;
  }

  /** How many slots are due at `now`: slots `0 … dueBy(now) − 1` (due at or before `now`). */
  dueBy(now: number): number {
    return this.countBefore(now, true);
  }

  /** How many slots are due strictly before `t`: the ones a start at `t` has already missed. */
  dueBefore(t: number): number {
    return this.countBefore(t, false);
  }

  private countBefore(t: number, inclusive: boolean): number {
    const before = (i: number) => (inclusive ? this.dueAt(i) <= t : this.dueAt(i) < t);
    // The division gives the answer up to rounding; `dueAt` has the last word, so both agree exactly.
    let k = Math.floor((t - this.startMs) / this.stepMs) + 1;
    k = Math.max(0, Math.min(this.count, Number.isFinite(k) ? k : 0));
    while (k > 0 && !before(k - 1)) k--;
    while (k < this.count && before(k)) k++;
    return k;
  }
}

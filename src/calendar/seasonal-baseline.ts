/**
 * How much activity to expect from a source at a given hour of the week, learnt from what it did in the
 * same hour of earlier weeks. Deadman rules and connector stoppage detection share it: silence is only
 * suspicious when the baseline says records should have arrived meanwhile.
 */

const HOUR_MS = 3_600_000;
const HOURS_PER_WEEK = 168;

export interface SeasonalBaselineState {
  /** Smoothed records per hour for each hour of the week (Monday 00:00 UTC = slot 0). */
  rate: number[];
  /** Completed hours observed per slot (warm-up is over when every slot has one). */
  seen: number[];
  /** Start of the hour being counted, and its count so far. */
  hourStartMs: number | null;
  hourCount: number;
}

export interface SilenceVerdict {
  /** Records the baseline expected during the silence (holidays excluded). */
  expected: number;
  /** True when that many expected records make the silence improbable. */
  unexpected: boolean;
  /** True while the baseline has not yet seen every hour of the week. */
  warmingUp: boolean;
}

export interface HolidaySource {
  isHoliday(at: number): boolean;
}

export class SeasonalBaseline {
  private readonly state: SeasonalBaselineState;

  /**
   * @param weight Weight of the newest week in the smoothed rate (an EWMA); 0.3 follows a change of
   *   habit within a few weeks while one odd week moves it little.
   */
  constructor(
    state?: SeasonalBaselineState,
    private readonly weight = 0.3,
  ) {
    this.state = state
      ? structuredClone(state)
      : {
          rate: new Array<number>(HOURS_PER_WEEK).fill(0),
          seen: new Array<number>(HOURS_PER_WEEK).fill(0),
          hourStartMs: null,
          hourCount: 0,
        };
  }

  /** Counts `records` that arrived (or whose poll completed) at `atMs`. Zero is a valid observation. */
  observe(atMs: number, records: number): void {
    this.advance(atMs);
    this.state.hourCount += records;
  }

  /** Closes every hour before `nowMs`, counting hours without observations as silent (zero) hours. */
  advance(nowMs: number): void {
    const hour = Math.floor(nowMs / HOUR_MS) * HOUR_MS;
    const s = this.state;
    if (s.hourStartMs === null) {
      s.hourStartMs = hour;
      return;
    }
    // Closing more than a week of hours teaches nothing new per slot; cap the loop.
    let from = s.hourStartMs;
    if (hour - from > HOURS_PER_WEEK * HOUR_MS) {
      this.close(from, s.hourCount);
      from = hour - HOURS_PER_WEEK * HOUR_MS;
      s.hourCount = 0;
    }
    for (let h = from; h < hour; h += HOUR_MS) {
      this.close(h, s.hourCount);
      s.hourCount = 0;
    }
    s.hourStartMs = Math.max(s.hourStartMs, hour);
  }

  /** Expected records per hour at `atMs`, or null before that hour of the week was ever seen. */
  expectedPerHour(atMs: number): number | null {
    const slot = slotOf(atMs);
    return this.state.seen[slot]! > 0 ? this.state.rate[slot]! : null;
  }

  get warmingUp(): boolean {
    return this.state.seen.some((n) => n === 0);
  }

  /**
   * Judges a silence from `fromMs` to `toMs`. Treating arrivals as Poisson with the baseline's rate, the
   * chance of seeing nothing is e^-expected; with `minExpected` 7 that is under 0.1%. Hours on holidays
   * expect nothing, and hours not yet learnt are skipped (a young baseline never pages on them) unless
   * the caller gives `fallbackPerHour`, a rate to assume for them (e.g. the source's recent rate).
   */
  judgeSilence(
    fromMs: number,
    toMs: number,
    holidays?: HolidaySource,
    minExpected = 7,
    fallbackPerHour?: number,
  ): SilenceVerdict {
    let expected = 0;
    for (let t = fromMs; t < toMs;) {
      const next = Math.min(toMs, (Math.floor(t / HOUR_MS) + 1) * HOUR_MS);
      const rate = this.expectedPerHour(t) ?? fallbackPerHour ?? null;
      if (rate !== null && !holidays?.isHoliday(t)) expected += (rate * (next - t)) / HOUR_MS;
      t = next;
    }
    return { expected, unexpected: expected >= minExpected, warmingUp: this.warmingUp };
  }

  toJSON(): SeasonalBaselineState {
    return structuredClone(this.state);
  }

  private close(hourStartMs: number, count: number): void {
    const slot = slotOf(hourStartMs);
    const s = this.state;
    s.rate[slot] = s.seen[slot] === 0 ? count : s.rate[slot]! * (1 - this.weight) + count * this.weight;
    s.seen[slot]! += 1;
  }
}

/** Hour of the week in UTC, Monday 00:00 = 0 (the epoch was a Thursday, hence the 72-hour shift). */
export function slotOf(atMs: number): number {
  const hours = Math.floor(atMs / HOUR_MS);
  return (((hours + 72) % HOURS_PER_WEEK) + HOURS_PER_WEEK) % HOURS_PER_WEEK;
}

/**
 * When a cursor feed should be polled next: as few calls as possible (each costs the same, empty or
 * full), under a latency bound and the provider's rate cap. See docs/connectors.md for the arithmetic.
 *
 * - A full page means a backlog. If the newest record on it is older than one page's worth of arrivals,
 *   more than a page is waiting: poll again at once (the rate cap paces the catch-up). Otherwise only a
 *   few records are left, and waiting until a page has filled saves a call that would come back partial.
 * - A partial page means the backlog is drained. The next poll is due when a full page is expected at
 *   the estimated arrival rate, but never later than `maxIntervalMs`, which bounds latency in lulls and
 *   makes an idle feed cost at most one probe per `maxIntervalMs`.
 */
export class FeedSchedule {
  /** Estimated arrivals per millisecond (EWMA), null until the first drained page. */
  private rate: number | null = null;
  /** Provider time up to which records are known fetched. */
  private drainedAt: number | null = null;

  constructor(
    private readonly pageSize: number,
    private readonly maxIntervalMs: number,
    /** Weight of the newest rate sample; 0.5 follows bursts within a few polls. */
    private readonly weight = 0.5,
  ) {}

  /**
   * Records to let accumulate before polling: a page plus one standard deviation of a Poisson count of
   * that size. Arrivals vary, so aiming at exactly a page would bring back a partial page half the time;
   * with the margin about one poll in six falls short, and by little (≈ 0.08 σ expected shortfall).
   */
  private get fillTarget(): number {
    return this.pageSize + Math.sqrt(this.pageSize);
  }

  get ratePerSecond(): number | null {
    return this.rate === null ? null : this.rate * 1000;
  }

  /**
   * Delay (ms) before the next poll, after a page of `n` records fetched at `now`; `newestAt` is the
   * availability time of the page's last record and `oldestAt` of its first, when records carry them.
   */
  afterPage(now: number, n: number, newestAt?: number, oldestAt?: number): number {
    if (n >= this.pageSize) {
      if (newestAt === undefined) return 0;
      // A full page's own records tell the arrival rate when they were released: in a burst they are
      // dense, and a rate learnt before the burst would underestimate what is waiting.
      if (oldestAt !== undefined) {
        const span = newestAt - oldestAt;
        if (span <= 0) return 0;
        this.learn(n / span);
      }
      if (this.rate === null || this.rate <= 0) return 0;
      this.drainedAt = newestAt;
      const waiting = this.rate * Math.max(0, now - newestAt);
      if (waiting >= this.pageSize) return 0;
      return Math.min(this.maxIntervalMs, (this.fillTarget - waiting) / this.rate);
    }
    const since = this.drainedAt;
    this.drainedAt = now;
    if (since !== null && now > since) this.learn(n / (now - since));
    if (this.rate === null || this.rate <= 0) return this.maxIntervalMs;
    return Math.min(this.maxIntervalMs, this.fillTarget / this.rate);
  }

  private learn(sample: number): void {
    this.rate = this.rate === null ? sample : this.rate * (1 - this.weight) + sample * this.weight;
  }
}

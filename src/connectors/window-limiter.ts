import type { Clock } from './clock.js';

/**
 * At most `limit` calls in any window of `windowMs`, counted the way the provider counts them.
 *
 * A call holds its slot from the moment it starts until `windowMs` after it ends. The provider sees each
 * call arrive somewhere between our start and our end, so no window of `windowMs` at the provider can
 * hold more than `limit` arrivals, whatever the network delay and however many calls run at once. A
 * token bucket (or `rate-limiter-flexible`'s fixed windows) allows a burst of up to twice the limit
 * across a window edge, which a provider enforcing a sliding window answers with 429.
 *
 * The same class caps cost: a budget of B cents per hour at c cents per call is `limit = floor(B / c)`
 * calls per hour.
 */
export class WindowLimiter {
  /** End times (+ window) of finished calls still holding a slot, oldest first. */
  private readonly releases: number[] = [];
  private inFlight = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly clock: Clock,
  ) {
    if (!(limit >= 1)) throw new Error('a window limiter needs a limit of at least 1');
  }

  /** When a call could start (clock time); now or earlier means at once. */
  nextFreeAt(): number {
    const now = this.clock.now();
    this.expire(now);
    if (this.inFlight + this.releases.length < this.limit) return now;
    // All slots are held: the earliest finished call frees one. In-flight calls free none until done.
    return this.releases[0] ?? Number.POSITIVE_INFINITY;
  }

  /** Calls in the current window, in flight included. */
  used(): number {
    this.expire(this.clock.now());
    return this.inFlight + this.releases.length;
  }

  /** Takes a slot if one is free now; returns a release function, or null. */
  tryAcquire(): (() => void) | null {
    if (this.nextFreeAt() > this.clock.now()) return null;
    this.inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.releases.push(this.clock.now() + this.windowMs);
    };
  }

  private expire(now: number): void {
    let n = 0;
    while (n < this.releases.length && this.releases[n]! <= now) n++;
    if (n > 0) this.releases.splice(0, n);
  }
}

import { setTimeout as sleepReal } from 'node:timers/promises';

/**
 * Time as connectors and simulators see it. Production uses the wall clock; tests and benchmarks use a
 * scaled clock, so that a simulated hour of polling runs in seconds with real timers and real HTTP and no
 * fake-timer library patched into the process.
 */
export interface Clock {
  /** Milliseconds since the epoch, in this clock's time. */
  now(): number;
  /** Waits `ms` of this clock's time; rejects with an AbortError when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Real milliseconds that `ms` of this clock's time take (for socket timeouts). */
  realMs(ms: number): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    if (ms > 0) await sleepReal(ms, undefined, { signal });
    else signal?.throwIfAborted();
  },
  realMs: (ms) => ms,
};

/**
 * A clock that runs `speed` times faster than the wall clock, starting at `origin` (ms since the epoch).
 * A simulator and a connector given the same instance agree on the time.
 */
export class ScaledClock implements Clock {
  private readonly realStart = performance.now();

  constructor(
    readonly speed: number,
    private readonly origin = Date.now(),
  ) {
    if (!(speed > 0)) throw new Error('clock speed must be positive');
  }

  now(): number {
    return this.origin + (performance.now() - this.realStart) * this.speed;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms > 0) await sleepReal(ms / this.speed, undefined, { signal });
    else signal?.throwIfAborted();
  }

  realMs(ms: number): number {
    return ms / this.speed;
  }
}

export function isAbortError(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

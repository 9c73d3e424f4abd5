import type { Clock } from '../../src/connectors/clock.js';

interface Sleeper {
  at: number;
  seq: number;
  wake: () => void;
}

/**
 * A clock that only moves when a test moves it: `advanceTo` wakes sleepers in time order, letting each
 * one's work (promise chains, no real I/O) run before the next, as the event loop would.
 */
export class VirtualClock implements Clock {
  private sleepers: Sleeper[] = [];
  private seq = 0;

  constructor(public t: number) {}

  now(): number {
    return this.t;
  }

  realMs(ms: number): number {
    return ms;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const sleeper: Sleeper = { at: this.t + Math.max(0, ms), seq: this.seq++, wake: resolve };
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        reject(signal!.reason as Error);
      };
      sleeper.wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(sleeper);
    });
  }

  /** Moves time to `until`, waking every sleeper due by then in order. */
  async advanceTo(until: number): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      let next: Sleeper | undefined;
      for (const s of this.sleepers)
        if (next === undefined || s.at < next.at || (s.at === next.at && s.seq < next.seq)) next = s;
      if (next === undefined || next.at > until) break;
      this.sleepers = this.sleepers.filter((s) => s !== next);
      this.t = Math.max(this.t, next.at);
      next.wake();
    }
    this.t = Math.max(this.t, until);
  }
}

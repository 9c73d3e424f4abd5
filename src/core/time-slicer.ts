import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/**
 * Cooperative time slicing for long loops on a thread that also answers calls: the loop asks `due`
 * between items and, when its slice is used up, awaits `pause()`, which lets waiting messages and
 * I/O run before the next slice starts. Checking the clock costs tens of nanoseconds, so it suits
 * items that take microseconds (a sketch, a cell), not single additions.
 */
export class TimeSlicer {
  private sliceEnd: number;

  constructor(private readonly sliceMs: number) {
    this.sliceEnd = performance.now() + sliceMs;
  }

  /** True when the current slice is used up. */
  get due(): boolean {
    return performance.now() >= this.sliceEnd;
  }

  /** Gives the thread to whatever waits, then starts a new slice. */
  async pause(): Promise<void> {
    await yieldToEventLoop();
    this.sliceEnd = performance.now() + this.sliceMs;
  }
}

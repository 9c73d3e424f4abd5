import type { Clock } from './clock.js';
import type { RoundSlots } from './round-slots.js';

export interface SlotDispatcherOptions {
  clock: Clock;
  /** Stops dispatching (the current `dispatch` rejects with an AbortError). */
  signal: AbortSignal;
  /** Tasks running at once, across rounds. */
  concurrency: number;
  /**
   * Shortest wait between two wake-ups, in clock ms. Slots that fall due within one tick start together
   * at its end, so a sample starts at most about a tick after its slot.
   */
  tickMs: number;
  /** A slot reached later than this after it was due is not started (see `SlotDispatcher`). */
  giveUpAfterMs: number;
}

/** Starts the work of one slot; must not reject (a sample counts its own failures). */
export type SlotTask = (index: number, dueMs: number) => Promise<void>;

/**
 * Starts each slot's task once the slot is due, at most `concurrency` at a time.
 *
 * It wakes at most once a tick and starts every slot due by then, instead of sleeping once per slot:
 * at 100,000 entities a minute the slots are 0.6 ms apart, and a timer, a promise and an event-loop
 * wake-up per call cost a quarter or more of the event loop's CPU per call (see docs/performance.md).
 *
 * Catching up: when every task slot is busy and slots are overdue (the provider slowed down, or the
 * event loop was held up), each task that ends starts the next overdue slot at once, without waiting for
 * a tick. A slot reached more than `giveUpAfterMs` after it was due is handed to `onExpired` instead of
 * being started: its sample would be missed anyway, and starting it would only make the slots behind it
 * later still.
 */
export class SlotDispatcher {
  private running = 0;
  private freed: { promise: Promise<void>; resolve: () => void } | null = null;
  private readonly release = (): void => {
    this.running--;
    const f = this.freed;
    this.freed = null;
    f?.resolve();
  };

  constructor(private readonly opts: SlotDispatcherOptions) {
    if (!(opts.concurrency >= 1)) throw new Error('a dispatcher needs a concurrency of at least 1');
  }

  /** Tasks started and not yet finished. */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Dispatches slots `from … slots.count − 1` of a round; resolves once the last one has been started
   * (or expired). Its task may still be running: tasks of one round overlap the next one's start.
   */
  async dispatch(
    slots: RoundSlots,
    from: number,
    task: SlotTask,
    onExpired: (index: number, dueMs: number) => void,
  ): Promise<void> {
    const { clock, signal, concurrency, tickMs, giveUpAfterMs } = this.opts;
    let next = from;
    while (next < slots.count) {
      signal.throwIfAborted();
      const now = clock.now();
      const due = slots.dueBy(now);
      while (next < due && this.running < concurrency) {
        const dueMs = slots.dueAt(next);
        if (now - dueMs > giveUpAfterMs) onExpired(next, dueMs);
        else this.start(task, next, dueMs);
        next++;
      }
      if (next >= slots.count) return;
      if (next < due) await this.taskEnded();
      else await clock.sleep(Math.max(slots.dueAt(next) - now, tickMs), signal);
    }
  }

  /** Resolves once every task started has finished. */
  async drain(): Promise<void> {
    while (this.running > 0) await this.taskEnded();
  }

  private start(task: SlotTask, index: number, dueMs: number): void {
    this.running++;
    // The task settles on its own (it must not reject); `release` only counts it out.
    void task(index, dueMs).then(this.release, this.release);
  }

  private taskEnded(): Promise<void> {
    if (this.freed === null) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.freed = { promise, resolve };
    }
    return this.freed.promise;
  }
}

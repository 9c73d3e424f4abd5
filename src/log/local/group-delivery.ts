import type { ColumnarBatch } from '../../core/batch.js';
import type { GroupHandled } from '../batch-log.js';
import type { RecordRef } from './segment-records.js';

/** Groups handed to a pipelining handler and not yet settled, at most. */
const PIPELINE_DEPTH = 2;

/** The log's side of delivery: which records are ready, how to read one, and what acknowledging does. */
export interface DeliverySource {
  /** Durable records, oldest first, starting `skip` past the oldest unacknowledged one; at most `max`. */
  durable(skip: number, max: number): RecordRef[];
  read(ref: RecordRef): Promise<ColumnarBatch>;
  /** Called once per record, in log order, after the group holding it has settled. */
  acknowledge(ref: RecordRef): void;
  /** A handler threw (batch given) or a record or a settling failed (batch null). */
  report(err: unknown, batch: ColumnarBatch | null): void;
}

export type GroupHandler = (batches: ColumnarBatch[]) => Promise<void | GroupHandled>;

/**
 * Delivers a log's records to one handler in groups, in log order. A group the handler answers with
 * `GroupHandled` stays in flight until it settles, while the next one is delivered; at most
 * PIPELINE_DEPTH groups are in flight, and acknowledgements follow log order. A failure, of the
 * handler or of a settling, delivers again from the oldest unacknowledged group after a backoff that
 * doubles up to `retryMaxMs`: the Applier makes repeats harmless.
 */
export class GroupDelivery {
  /** Settles once `stop` was called and the groups already handed over have settled. */
  readonly done: Promise<void>;
  private stopped = false;
  private wakeWaiter: (() => void) | null = null;
  private interruptPause: (() => void) | null = null;

  constructor(
    private readonly source: DeliverySource,
    private readonly handler: GroupHandler,
    private readonly opts: { maxBatches: number; retryInitialMs: number; retryMaxMs: number },
  ) {
    this.done = this.run();
  }

  /** New records may be durable: look again if idle. */
  wake(): void {
    const wake = this.wakeWaiter;
    this.wakeWaiter = null;
    wake?.();
  }

  /** Delivers no new group; a backoff in progress ends at once. */
  stop(): void {
    this.stopped = true;
    this.wake();
    this.interruptPause?.();
  }

  private async run(): Promise<void> {
    const { source, handler } = this;
    const maxBatches = Math.max(1, this.opts.maxBatches);
    let backoff = this.opts.retryInitialMs;
    const inFlight: { refs: RecordRef[]; settled: Promise<void> }[] = [];
    /** Records handed to the handler past the acknowledged head. */
    let ahead = 0;
    const fail = async (err: unknown, batch: ColumnarBatch | null): Promise<void> => {
      source.report(err, batch);
      await Promise.allSettled(inFlight.map((g) => g.settled));
      inFlight.length = 0;
      ahead = 0;
      await this.pause(backoff);
      backoff = Math.min(backoff * 2, this.opts.retryMaxMs);
    };
    /** Acknowledges the oldest group in flight once it settles; false when it failed. */
    const settleOldest = async (): Promise<boolean> => {
      const oldest = inFlight[0]!;
      try {
        await oldest.settled;
      } catch (err) {
        await fail(err, null);
        return false;
      }
      inFlight.shift();
      ahead -= oldest.refs.length;
      for (const ref of oldest.refs) source.acknowledge(ref);
      return true;
    };
    while (!this.stopped) {
      const refs = source.durable(ahead, maxBatches);
      if (refs.length === 0) {
        if (inFlight.length > 0) await settleOldest();
        else await new Promise<void>((resolve) => (this.wakeWaiter = resolve));
        continue;
      }
      const batches: ColumnarBatch[] = [];
      let handled: void | GroupHandled;
      try {
        // Each read is off the event loop, so others run between the records of a large group.
        while (batches.length < refs.length) batches.push(await source.read(refs[batches.length]!));
        handled = await handler(batches);
      } catch (err) {
        await fail(err, batches[0] ?? null);
        continue;
      }
      backoff = this.opts.retryInitialMs;
      ahead += refs.length;
      const settled = handled?.settled ?? Promise.resolve();
      // Observed in order by settleOldest; until then a rejection must not count as unhandled.
      settled.catch(() => undefined);
      inFlight.push({ refs, settled });
      while (inFlight.length >= (handled === undefined ? 1 : PIPELINE_DEPTH))
        if (!(await settleOldest())) break;
    }
    // Stopping: groups already handed over still settle and are acknowledged, so they are not redone.
    while (inFlight.length > 0) if (!(await settleOldest())) break;
  }

  private pause(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms * (0.75 + Math.random() * 0.5));
      this.interruptPause = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

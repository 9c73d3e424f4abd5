import type { ColumnarBatch } from '../core/batch.js';

/**
 * BatchLog: the durable hand-off between decoding and applying. `append` resolves once the batch is
 * durable; `consume` delivers batches in append order to one handler and acknowledges each after the
 * handler resolves. Batches may be delivered again after a crash (at-least-once); the Applier makes
 * that exactly-once by batch id.
 *
 * Adapters: `local` (segment files in the data dir). Every adapter passes test/conformance/batch-log.ts.
 */
export interface BatchLogStats {
  /** Appended but not yet acknowledged. */
  backlogBatches: number;
  backlogBytes: number;
  /** Age of the oldest unacknowledged batch, in ms (0 when empty). */
  lagMs: number;
}

/**
 * A handler's answer that lets the next group in before this one is done: the log delivers the next
 * group at once, acknowledges this one once `settled` resolves, and, should it reject, delivers
 * again from this group on.
 */
export interface GroupHandled {
  readonly settled: Promise<void>;
}

export interface BatchLog {
  readonly kind: string;
  init(): Promise<void>;
  append(batch: ColumnarBatch): Promise<void>;
  /**
   * Appends a batch already encoded with `encodeBatch` (src/log/local/batch-codec.ts), so decoding
   * threads can hand over bytes instead of objects. Same durability and order as `append`.
   */
  appendEncoded(payload: Uint8Array): Promise<void>;
  /** Starts delivery. One consumer per log; the handler runs for one batch at a time. */
  consume(handler: (batch: ColumnarBatch) => Promise<void>): void;
  /**
   * Like `consume`, but hands over up to `maxBatches` consecutive batches at once (whatever is
   * durable), acknowledged together after the handler resolves, so the consumer can apply them in
   * one store transaction. A handler that resolves with `GroupHandled` pipelines: the next group is
   * handed over while this one settles (at most two groups unsettled), and acknowledgements still
   * follow log order.
   */
  consumeGroups(
    handler: (batches: ColumnarBatch[]) => Promise<void | GroupHandled>,
    maxBatches: number,
  ): void;
  stats(): BatchLogStats;
  /** Resolves when every batch appended so far has been acknowledged. */
  drained(): Promise<void>;
  close(): Promise<void>;
}

import { type AckPosition, writeAck } from './ack-file.js';

/**
 * The consumer's position in the log: acknowledged in memory as records are handled, and persisted
 * write-behind to `consumer.json`, so acknowledgements that arrive while a write is in flight are
 * folded into the next one. Records are numbered as the log numbers them (from 1 in each process).
 */
export class ConsumerPosition {
  /** Last acknowledged record, and the position after it. */
  private ackNo = 0;
  private ack: AckPosition;
  private persistedNo = 0;
  private persistedAt: AckPosition;
  private persisting: Promise<void> | null = null;
  private waiters: { target: number; resolve: () => void; reject: (err: unknown) => void }[] = [];

  constructor(
    private readonly dir: string,
    start: AckPosition,
    private readonly hooks: {
      /** After each write: acknowledged segments may now be deleted. */
      onPersisted(): void;
      onError(err: unknown): void;
    },
  ) {
    this.ack = { ...start };
    this.persistedAt = { ...start };
  }

  /** The position in memory: where the next delivery starts. */
  get acknowledged(): AckPosition {
    return this.ack;
  }

  /** The last record whose acknowledgement is on disk (0 for none). */
  get lastPersisted(): number {
    return this.persistedNo;
  }

  /** The position on disk: where a restart would start. */
  get persisted(): AckPosition {
    return this.persistedAt;
  }

  /** Acknowledges record `no`, which ends at `pos`, and starts persisting it. */
  advance(no: number, pos: AckPosition): void {
    this.ackNo = no;
    this.ack = pos;
    if (this.persisting !== null) return;
    this.persisting = (async () => {
      while (this.persistedNo < this.ackNo) {
        const target = this.ackNo;
        const at = { ...this.ack };
        await writeAck(this.dir, at);
        this.persistedNo = target;
        this.persistedAt = at;
        this.hooks.onPersisted();
        this.settleWaiters();
      }
    })()
      .catch((err: unknown) => this.hooks.onError(err))
      .finally(() => {
        this.persisting = null;
      });
  }

  /** Resolves once record `no`'s acknowledgement is on disk; `abandonWaits` ends the wait instead. */
  persistedThrough(no: number): Promise<void> {
    if (this.persistedNo >= no) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ target: no, resolve, reject }));
  }

  /** Resolves once no write is in flight. */
  async settled(): Promise<void> {
    while (this.persisting !== null) await this.persisting;
  }

  /** Ends every wait with `err` (the log closed before the records were acknowledged). */
  abandonWaits(err: Error): void {
    for (const { reject } of this.waiters.splice(0)) reject(err);
  }

  private settleWaiters(): void {
    this.waiters = this.waiters.filter(({ target, resolve }) => {
      if (this.persistedNo < target) return true;
      resolve();
      return false;
    });
  }
}

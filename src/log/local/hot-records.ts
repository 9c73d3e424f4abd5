import type { ColumnarBatch } from '../../core/batch.js';
import { decodePayload, readRecord, type RecordRef } from './segment-records.js';

/**
 * The payloads of records just written, kept in memory until the consumer first reads them. The
 * consumer runs right behind the writers, so most records need neither a read of their segment nor a
 * second buffer: every buffer allocated outside V8's heap counts towards its external-memory limit,
 * and on the event loop those reads had become what triggered most of its collections. Bounded in
 * bytes; a record past the bound, delivered again after a failure, or found at start is read back
 * from its segment.
 */
export class HotRecords {
  private bytes = 0;

  constructor(private readonly limitBytes: number) {}

  /** Keeps `payload` (which nobody changes afterwards) for `ref`, if it fits. */
  keep(ref: RecordRef, payload: Uint8Array): void {
    if (this.bytes + payload.length > this.limitBytes) return;
    ref.payload = payload;
    this.bytes += payload.length;
  }

  /** The record's batch: from memory the first time when it was kept, from its segment otherwise. */
  take(ref: RecordRef): Promise<ColumnarBatch> {
    const payload = ref.payload;
    if (payload === undefined) return readRecord(ref);
    this.forget(ref, payload);
    return Promise.resolve(decodePayload(payload));
  }

  /** Releases a record's payload if it is still kept (acknowledged without being read). */
  drop(ref: RecordRef): void {
    const payload = ref.payload;
    if (payload !== undefined) this.forget(ref, payload);
  }

  /** Bytes kept now. */
  get size(): number {
    return this.bytes;
  }

  private forget(ref: RecordRef, payload: Uint8Array): void {
    ref.payload = undefined;
    this.bytes -= payload.length;
  }
}

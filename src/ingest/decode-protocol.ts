import type { SourcePosition } from '../core/batch.js';
import type { DatasetSpec } from '../core/dataset.js';

/** Messages between the main thread and a decode thread (see decode-pool.ts). */
export interface DecodeJob {
  uploadId: string;
  path: string;
  spec: DatasetSpec;
  format: 'csv' | 'ndjson';
  batchRows: number;
  maxLineBytes: number;
  nowMs: number;
  start: SourcePosition;
  startSeq: number;
  headerLine?: string;
  /** Batches the thread may send ahead of acknowledgements. */
  window: number;
}

export type ToDecoder =
  | { type: 'start'; job: DecodeJob }
  /** One more batch has been made durable by the main thread. */
  | { type: 'credit' }
  | { type: 'stop' };

export type FromDecoder =
  /** `payload` is `encodeBatch(batch)`; its buffer is transferred, not copied. */
  | { type: 'batch'; seq: number; end: SourcePosition; payload: Uint8Array }
  | { type: 'end'; nextSeq: number }
  | { type: 'error'; message: string };

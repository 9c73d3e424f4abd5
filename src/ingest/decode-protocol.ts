import type { SourcePosition } from '../core/batch.js';
import type { DatasetSpec } from '../core/dataset.js';
import type { DecoderOptions } from './upload-decoder.js';

/** Messages between the main thread and a decode thread (see decode-pool.ts). */
/** An upload to decode: the decoder's options, with the dataset as its spec (layouts do not cross threads). */
export interface DecodeJob extends Omit<DecoderOptions, 'layout' | 'source'> {
  uploadId: string;
  path: string;
  /** Bytes to decode instead of the file at `path` (a write request's body, already in memory). */
  bytes?: Uint8Array;
  spec: DatasetSpec;
  /** Batches the thread may send ahead of acknowledgements. */
  window: number;
  /**
   * Durable end of the body so far (a resumable upload still arriving); null reads to the end of file.
   * Bytes past it may be rewritten by the client and are never read.
   */
  limit: number | null;
  /** True when the body ends at `limit` (or at end of file): the last row is then complete. */
  final: boolean;
}

export type ToDecoder =
  | { type: 'start'; job: DecodeJob }
  /** One more batch has been made durable by the main thread. */
  | { type: 'credit' }
  | { type: 'stop' };

export type FromDecoder =
  /** `payload` is `encodeBatch(batch)`; its buffer is transferred, not copied. */
  | { type: 'batch'; seq: number; end: SourcePosition; payload: Uint8Array }
  /** `finished`: the whole body is decoded; otherwise decoding stopped at `limit`, to resume later. */
  | { type: 'end'; nextSeq: number; finished: boolean }
  | { type: 'error'; message: string };

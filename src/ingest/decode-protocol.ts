import type { SourcePosition } from '../core/batch.js';
import type { DatasetSpec } from '../core/dataset.js';
import type { DecoderOptions } from './upload-decoder.js';

/** Messages between the main thread and a decode thread (see decode-pool.ts). */
/** An upload to decode: the decoder's options, with the dataset as its spec (layouts do not cross threads). */
export interface DecodeJob extends Omit<DecoderOptions, 'layout' | 'source'> {
  uploadId: string;
  path: string;
  spec: DatasetSpec;
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

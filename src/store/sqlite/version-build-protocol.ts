import type { ErrorCode } from '../../core/errors.js';
import type { RecordShape } from './record-columns.js';
import type { KeyedApplyResult } from './version-writer.js';

/**
 * Messages between the main thread and the version-build thread (see version-build-thread.ts). Every
 * request carries an id; the thread handles requests one at a time in arrival order and answers each
 * with the same id, so requests about one version take effect in the order they were sent.
 */
export type VersionRequest =
  /** Creates the version's database if needed and keeps its write connection open. */
  | { id: number; type: 'begin'; file: string; shape: RecordShape }
  /** `payload` is `encodeBatch(batch)` (src/log/local/batch-codec.ts); its buffer is transferred. */
  | { id: number; type: 'apply'; file: string; payload: Uint8Array }
  /** No more writes: closes the write connection, so readers may hold the file's lock for good. */
  | { id: number; type: 'seal'; file: string }
  /** Closes the write connection, if any, and deletes the version's files. */
  | { id: number; type: 'discard'; file: string }
  /** Closes every write connection (before the thread is stopped). */
  | { id: number; type: 'close' };

export interface VersionFailure {
  message: string;
  /** Set when the failure was a SluiceError. */
  code?: ErrorCode;
  /** SQLite result code (`SQLITE_BUSY`, `SQLITE_FULL`, …) when SQLite failed. */
  sqlite?: string;
}

export type VersionReply =
  { id: number; ok: true; result?: KeyedApplyResult } | { id: number; ok: false; error: VersionFailure };

import type { RejectReason } from './errors.js';

/**
 * A validated batch of rows, stored column by column. Rows travel in batches of a few thousand; the
 * hot path fills typed arrays and never allocates an object per row.
 *
 * Column arrays follow the dataset layout (`layoutOf`): `keys[i]` holds the i-th key column, and so on.
 */
export interface ColumnarBatch {
  /** `<source>:<sequence>`; the Applier applies each id at most once. */
  readonly id: string;
  readonly dataset: string;
  /** Upload id or source id. */
  readonly source: string;
  /** 0-based sequence of this batch within its source. */
  readonly seq: number;
  /** Number of valid rows in the columns below. */
  readonly length: number;
  readonly keys: string[][];
  /** Event time in microseconds since the epoch (exact below 2^53, i.e. until year 2255). */
  readonly timeUs: Float64Array | null;
  /** NaN marks a missing optional value. */
  readonly fields: Float64Array[];
  /** Canonical JSON text (sorted keys), or null when missing. */
  readonly payloads: (string | null)[][];
  readonly attributes: (string | null)[][];
  /**
   * The time column's text as it appeared in the source, kept for replace-mode datasets so that
   * record lookups return it unchanged; null otherwise.
   */
  readonly timeText: string[] | null;
  /**
   * 53-bit content hash per row (key + time + fields + canonical payload) when the dataset dedups by
   * content, or a key hash for `dedup: key`; null when the dataset does not dedup.
   */
  readonly hashes: Float64Array | null;
  /** 1-based line number of each row in its source file, for reports and record lookups. */
  readonly lines: Float64Array;
  /** Rows of the source that this batch covers, valid or not. */
  readonly totalRows: number;
  readonly rejects: Reject[];
  /** Where the source stands after this batch: the byte offset and line to resume from. */
  readonly end: SourcePosition;
  /**
   * The batch's BatchLog encoding, when it was decoded from one: it can cross to another thread as
   * bytes instead of being encoded again. Its memory is shared with the typed columns above.
   */
  readonly encoded?: Uint8Array;
}

export interface SourcePosition {
  /** Byte offset of the first byte after this batch. */
  readonly offset: number;
  /** Number of lines consumed so far (the next line is `line + 1`). */
  readonly line: number;
}

export interface Reject {
  /** 1-based line number in the source file (a header is line 1). */
  readonly line: number;
  readonly reason: RejectReason;
  /** Column name the reason is about, when there is one. */
  readonly column: string | null;
  /** The raw text of the row, truncated to a few KiB. */
  readonly raw: string;
}

/** The counts the Applier records for one applied batch. */
export interface BatchOutcome {
  readonly batchId: string;
  readonly total: number;
  readonly valid: number;
  readonly invalid: number;
  readonly duplicate: number;
}

import type { ColumnarBatch } from '../core/batch.js';
import type { DatasetLayout } from '../core/dataset.js';

/**
 * SeriesStore: the append-mode data. Takes columnar batches exactly once, and serves range scans,
 * bucketed series and latest-record reads. Adapters declare what they can do in `capabilities`; a
 * call outside them fails with `capability_missing`.
 *
 * Adapters: `duckdb` (embedded). Every adapter passes test/conformance/series-store.ts.
 */
export type SeriesCapability = 'append' | 'series' | 'latest' | 'scan';

export type SeriesAgg = 'mean' | 'min' | 'max' | 'sum' | 'count' | 'last';
export const SERIES_AGGS: readonly SeriesAgg[] = ['mean', 'min', 'max', 'sum', 'count', 'last'];

export interface AppendResult {
  /** False when the batch id had already been applied; the counts are then the recorded ones. */
  applied: boolean;
  inserted: number;
  duplicate: number;
}

/** Equality filter on key columns: column name to accepted values (OR within a column, AND across). */
export type KeyFilter = Readonly<Record<string, readonly string[]>>;

export interface SeriesQuery {
  keys: KeyFilter;
  /** Inclusive lower bound, microseconds since the epoch. */
  fromUs?: number;
  /** Exclusive upper bound, microseconds since the epoch. */
  toUs?: number;
  /** Bucket width in milliseconds; without it every row is returned (up to `limit`). */
  stepMs?: number;
  agg: SeriesAgg;
  /** Field columns to return; all fields when omitted. */
  fields?: readonly string[];
  limit: number;
}

export interface SeriesPoint {
  /** Bucket start (or row time), microseconds since the epoch. */
  timeUs: number;
  /** Key column values, in layout order. */
  keys: string[];
  /** One value per requested field, in request order; null for an empty aggregate. */
  values: (number | null)[];
}

/** A full stored row, for latest-record reads. */
export interface StoredRow {
  keys: string[];
  timeUs: number | null;
  fields: (number | null)[];
  payloads: (string | null)[];
  attributes: (string | null)[];
}

/** A chunk of stored rows in columnar form, for snapshot and dedup rebuilds. */
export interface ScanChunk {
  length: number;
  keys: string[][];
  timeUs: Float64Array | null;
  fields: Float64Array[];
  hashes: Float64Array | null;
}

export interface SeriesStore {
  readonly kind: string;
  readonly capabilities: ReadonlySet<SeriesCapability>;
  init(): Promise<void>;
  close(): Promise<void>;
  /** Creates the dataset's storage if missing. Idempotent. */
  ensureDataset(layout: DatasetLayout): Promise<void>;
  dropDataset(name: string): Promise<void>;
  /**
   * Appends the rows of `batch` whose `keep[i]` is 1 (all rows when `keep` is omitted) and records
   * the batch id with its counts in the same transaction. Rows not kept count as duplicates.
   */
  append(layout: DatasetLayout, batch: ColumnarBatch, keep?: Uint8Array): Promise<AppendResult>;
  /**
   * Appends several batches of one dataset in ONE transaction (group commit): each batch id already
   * applied is skipped and reported with its recorded counts, the rest are applied together, or none
   * is. Results are in input order.
   */
  appendMany(
    layout: DatasetLayout,
    items: readonly { batch: ColumnarBatch; keep?: Uint8Array }[],
  ): Promise<AppendResult[]>;
  isApplied(batchId: string): Promise<boolean>;
  series(layout: DatasetLayout, query: SeriesQuery): Promise<SeriesPoint[]>;
  /** The row with the greatest time among rows matching the key filter. */
  latest(layout: DatasetLayout, keys: KeyFilter): Promise<StoredRow | undefined>;
  /**
   * The latest row of every series (distinct key values) matching the filter, in one store query, ordered
   * by keys: the bulk form of `latest` (capability `latest`).
   */
  latestMany(layout: DatasetLayout, keys: KeyFilter): Promise<StoredRow[]>;
  /** Streams every stored row of the dataset in chunks. */
  scan(layout: DatasetLayout, onChunk: (chunk: ScanChunk) => void): Promise<void>;
  count(layout: DatasetLayout): Promise<number>;
  /**
   * Full stored rows (payloads and attributes included) matching the key filter in [fromUs, toUs), in
   * time order, at most `limit`. Optional while adapters gain it: callers check that it is defined.
   */
  rows?(layout: DatasetLayout, query: RowsQuery): Promise<StoredRow[]>;
}

export interface RowsQuery {
  keys: KeyFilter;
  fromUs?: number;
  toUs?: number;
  limit: number;
}

import type { ColumnarBatch } from '../core/batch.js';
import type { DatasetLayout } from '../core/dataset.js';
import type { RollupResolution } from '../apply/rollups/rollup-cell.js';
import type { QuantileSketch } from '../query/quantile-sketch.js';

/**
 * SeriesStore: the append-mode data. Takes columnar batches exactly once, and serves range scans,
 * bucketed series and latest-record reads. Adapters declare what they can do in `capabilities`; a
 * call outside them fails with `capability_missing`.
 *
 * Adapters: `duckdb` (embedded). Every adapter passes test/conformance/series-store.ts.
 */
export type SeriesCapability = 'append' | 'series' | 'latest' | 'scan' | 'rollups' | 'retention';

export type SeriesAgg = 'mean' | 'min' | 'max' | 'sum' | 'count' | 'last';
export const SERIES_AGGS: readonly SeriesAgg[] = ['mean', 'min', 'max', 'sum', 'count', 'last'];

export interface AppendResult {
  /** False when the batch id had already been applied; the counts are then the recorded ones. */
  applied: boolean;
  inserted: number;
  duplicate: number;
  /**
   * Apply sequence of the batch: increases with every newly applied batch across the store, and is
   * stored with its rows, so rollups can tell which rows their last flush covered. 0 for a replay.
   */
  seq: number;
  /**
   * Which rows were stored (1) and which dropped as duplicates (0), for a newly applied batch the
   * store deduplicated itself; absent when every row was stored, for a replay, and when the caller
   * gave the mask.
   */
  kept?: Uint8Array;
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
  /** Apply sequence of each row's batch (see `AppendResult.seq`). */
  seqs: Float64Array;
}

/** One stretch of a rollup read: buckets of `resolution` starting in [fromUs, toUs). */
export interface RollupSegment {
  resolution: RollupResolution;
  fromUs: number;
  toUs: number;
}

export interface RollupQuery {
  /** Disjoint stretches; fine buckets at the edges of a window and coarse ones in its middle. */
  segments: readonly RollupSegment[];
  keys: KeyFilter;
  /** Key columns to group by (none: one group). */
  groupBy: readonly string[];
  /** Field columns to aggregate. */
  fields: readonly string[];
  /** Groups also by time, in buckets of this width (a multiple of every segment's resolution). */
  stepUs?: number;
  /** Also merge the quantile sketches (costs a read of every sketch in the window). */
  sketches: boolean;
}

export interface FieldAggregate {
  count: number;
  sum: number;
  /** NaN when count is 0. */
  min: number;
  max: number;
  sumSq: number;
  /** Present when the query asked for sketches. */
  sketch?: QuantileSketch;
}

export interface RollupGroup {
  /** Values of the `groupBy` columns, in that order. */
  group: string[];
  /** Step bucket start, microseconds; 0 without a step. */
  bucketUs: number;
  rows: number;
  /** One per requested field, in request order. */
  fields: FieldAggregate[];
}

export interface RetentionCutoffs {
  /** Raw rows in partitions that end at or before this time go. */
  rawBeforeUs: number;
  /** Rollup buckets that end at or before this time go. */
  rollupsBeforeUs: number;
}

export interface RetentionResult {
  partitionsDropped: number;
  rowsDropped: number;
  rollupRowsDropped: number;
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
   * Appends the rows of `batch` whose `keep[i]` is 1 and records the batch id with its counts in the
   * same transaction. Rows not kept count as duplicates. Without `keep`, a dataset that dedups keeps
   * the rows whose hash (`batch.hashes`) is neither stored nor repeated earlier, and says which in
   * `kept`; one that does not keeps every row.
   */
  append(layout: DatasetLayout, batch: ColumnarBatch, keep?: Uint8Array): Promise<AppendResult>;
  /**
   * Appends several batches of one dataset in ONE transaction (group commit): each batch id already
   * applied is skipped and reported with its recorded counts, the rest are applied together, or none
   * is. Dedup as in `append`, across the batches of the group too. Results are in input order.
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
  /**
   * Streams every stored row of the dataset in chunks; with `afterSeq` / `throughSeq`, only rows of
   * batches whose apply sequence is in (afterSeq, throughSeq] (the tail rollups have not stored yet).
   * When `onChunk` returns a promise, the next chunk waits for it.
   */
  scan(
    layout: DatasetLayout,
    onChunk: (chunk: ScanChunk) => void | Promise<void>,
    opts?: { afterSeq?: number; throughSeq?: number },
  ): Promise<void>;
  count(layout: DatasetLayout): Promise<number>;
  /**
   * The content (or key) hashes of stored rows, for dedup checks against rows no longer held in
   * memory. Capability `append`.
   */
  storedHashes(layout: DatasetLayout, query: StoredHashesQuery): Promise<Float64Array | undefined>;
  /**
   * Apply sequence up to which the dataset's stored rollups include every row. Capability `rollups`.
   * The store keeps the rollups of its append-mode datasets itself: newly applied rows are folded in
   * in the background, and at open, rows applied before a stop but not yet folded are.
   */
  rollupWatermark(dataset: string): Promise<number>;
  /** Resolves once every row appended so far is in the stored rollups. Capability `rollups`. */
  flushRollups(): Promise<void>;
  /**
   * Aggregates rollups by group (and step), counting every applied row, flushed or not. Capability
   * `rollups`.
   */
  readRollups(layout: DatasetLayout, query: RollupQuery): Promise<RollupGroup[]>;
  /**
   * Drops raw time partitions and rollup buckets past their cutoffs. Raw data goes a whole
   * partition at a time, never row by row, and only after its rows are in the rollups. Capability
   * `retention`.
   */
  dropExpired(layout: DatasetLayout, cutoffs: RetentionCutoffs): Promise<RetentionResult>;
  /**
   * Full stored rows (payloads and attributes included) matching the key filter in [fromUs, toUs), in
   * time order, at most `limit`. Optional while adapters gain it: callers check that it is defined.
   */
  rows?(layout: DatasetLayout, query: RowsQuery): Promise<StoredRow[]>;
}

/** Which stored row hashes `storedHashes` returns. */
export interface StoredHashesQuery {
  /**
   * Rows with a time in [fromUs, toUs); `null`: rows without a time; omitted: every row.
   */
  time?: { fromUs: number; toUs: number } | null;
  /** Only those of these hashes that are stored (a probe). */
  among?: Float64Array;
  /** At most this many: past it the answer is undefined (too many to hold). */
  limit?: number;
}

export interface RowsQuery {
  keys: KeyFilter;
  fromUs?: number;
  toUs?: number;
  limit: number;
}

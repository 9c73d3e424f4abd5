import { ROLLUP_SKETCH } from '../../apply/rollups/rollup-cell.js';
import type { DatasetSpec } from '../../core/dataset.js';
import { ERRORS, SluiceError, type ErrorCode } from '../../core/errors.js';
import { QuantileSketch } from '../../query/quantile-sketch.js';
import type { DuckDbSeriesStoreOptions } from '../duckdb/duckdb-series-store.js';
import type {
  AppendResult,
  KeyFilter,
  RetentionCutoffs,
  RetentionResult,
  RollupGroup,
  RollupQuery,
  RowsQuery,
  ScanChunk,
  SeriesQuery,
  SeriesPoint,
  StoredHashesQuery,
  StoredRow,
} from '../series-store.js';

/**
 * What crosses between the thread that serves requests and the thread that owns the DuckDB series
 * store: calls, their answers and errors, as plain data. Datasets travel as their spec (the thread
 * rebuilds the layout), batches as their BatchLog encoding, sketches as their bytes.
 */

/** The store thread's options: everything but the objects that cannot cross (metrics, logger). */
export interface SeriesThreadData {
  readonly store: Omit<DuckDbSeriesStoreOptions, 'metrics' | 'log'>;
  readonly logLevel: string;
  /**
   * Tests only: the n-th `appendMany` (1-based) stores its batches and then answers with the error
   * DuckDB gives for an invalidated database, so the reopening path can be tested without making
   * DuckDB fail for real.
   */
  readonly testing?: { readonly invalidateAtAppend?: number };
}

/** A batch as the BatchLog encodes it, with the rows its dedup kept. */
export interface WireItem {
  readonly bytes: Uint8Array;
  readonly keep?: Uint8Array;
}

export interface WireFieldAggregate {
  count: number;
  sum: number;
  min: number;
  max: number;
  sumSq: number;
  sketch?: Uint8Array;
}

/**
 * Series points as columns: a large answer (a bulk read's tens of thousands of points) crosses threads
 * as a few typed arrays, where cloning an object and two arrays per point cost 20 times as much.
 */
export interface WireSeries {
  times: Float64Array;
  /** `fieldCount` values per point, point after point; NaN stands for null. */
  values: Float64Array;
  fieldCount: number;
  /** Each point's key values, as an index into `tuples`. */
  keyIndex: Uint32Array;
  tuples: string[][];
}

export interface WireRollupGroup {
  group: string[];
  bucketUs: number;
  rows: number;
  fields: WireFieldAggregate[];
}

/** The calls the store thread answers, each with its answer. `scan` streams and is separate. */
export interface SeriesWireApi {
  init(): void;
  close(): void;
  ensureDataset(spec: DatasetSpec): void;
  dropDataset(name: string): void;
  appendMany(spec: DatasetSpec, items: WireItem[]): AppendResult[];
  isApplied(batchId: string): boolean;
  series(spec: DatasetSpec, query: SeriesQuery): WireSeries;
  latest(spec: DatasetSpec, keys: KeyFilter): StoredRow | undefined;
  latestMany(spec: DatasetSpec, keys: KeyFilter): StoredRow[];
  rows(spec: DatasetSpec, query: RowsQuery): StoredRow[];
  count(spec: DatasetSpec): number;
  storedHashes(spec: DatasetSpec, query: StoredHashesQuery): Float64Array | undefined;
  rollupWatermark(dataset: string): number;
  flushRollups(): void;
  readRollups(spec: DatasetSpec, query: RollupQuery): WireRollupGroup[];
  dropExpired(spec: DatasetSpec, cutoffs: RetentionCutoffs): RetentionResult;
  /** The thread's Prometheus metrics, in the text exposition format. */
  metrics(): string;
}

export type SeriesOp = keyof SeriesWireApi;

export interface ScanCall {
  spec: DatasetSpec;
  seqs: { afterSeq?: number; throughSeq?: number };
}

export type ToSeriesThread =
  | { id: number; op: SeriesOp; args: unknown[] }
  | { id: number; op: 'scan'; scan: ScanCall }
  /** The chunk of scan `ack` was handled, and the thread may send the next; or it failed, ending the scan. */
  | { ack: number; failed?: true };

export type FromSeriesThread =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError }
  | { id: number; chunk: ScanChunk };

export interface WireError {
  name: string;
  message: string;
  code?: ErrorCode;
  retryAfter?: number;
  stack?: string;
}

export function toWireError(e: unknown): WireError {
  if (e instanceof SluiceError)
    return { name: e.name, message: e.message, code: e.code, retryAfter: e.retryAfter, stack: e.stack };
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: 'Error', message: String(e) };
}

/** The error as the calling thread rethrows it: a SluiceError keeps its code, so its retry intent. */
export function fromWireError(w: WireError): Error {
  const err =
    w.code !== undefined && w.code in ERRORS
      ? new SluiceError(w.code, w.message, { retryAfter: w.retryAfter })
      : Object.assign(new Error(w.message), { name: w.name });
  if (w.stack !== undefined) err.stack = w.stack;
  return err;
}

export function toWireGroups(groups: readonly RollupGroup[]): WireRollupGroup[] {
  return groups.map((g) => ({
    group: g.group,
    bucketUs: g.bucketUs,
    rows: g.rows,
    fields: g.fields.map((f) => {
      const { sketch, ...rest } = f;
      return sketch === undefined ? rest : { ...rest, sketch: sketch.toBytes() };
    }),
  }));
}

export function fromWireGroups(groups: readonly WireRollupGroup[]): RollupGroup[] {
  return groups.map((g) => ({
    group: g.group,
    bucketUs: g.bucketUs,
    rows: g.rows,
    fields: g.fields.map((f) => {
      const { sketch, ...rest } = f;
      if (sketch === undefined) return rest;
      // A buffer as large as the values, so a sketch that was exact stays exact.
      const opts = { ...ROLLUP_SKETCH, maxBuffer: Math.max(ROLLUP_SKETCH.maxBuffer ?? 0, f.count) };
      return { ...rest, sketch: QuantileSketch.fromBytes(sketch, opts) };
    }),
  }));
}

export function toWireSeries(points: readonly SeriesPoint[]): WireSeries {
  const n = points.length;
  const fieldCount = n === 0 ? 0 : points[0]!.values.length;
  const times = new Float64Array(n);
  const values = new Float64Array(n * fieldCount);
  const keyIndex = new Uint32Array(n);
  const tuples: string[][] = [];
  const indexOf = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const p = points[i]!;
    times[i] = p.timeUs;
    for (let f = 0; f < fieldCount; f++) values[i * fieldCount + f] = p.values[f] ?? NaN;
    const id = p.keys.length === 1 ? p.keys[0]! : JSON.stringify(p.keys);
    let k = indexOf.get(id);
    if (k === undefined) {
      indexOf.set(id, (k = tuples.length));
      tuples.push(p.keys);
    }
    keyIndex[i] = k;
  }
  return { times, values, fieldCount, keyIndex, tuples };
}

/** The points again; points of one series share one `keys` array. */
export function fromWireSeries(w: WireSeries): SeriesPoint[] {
  const { times, values, fieldCount, keyIndex, tuples } = w;
  const out = new Array<SeriesPoint>(times.length);
  for (let i = 0; i < times.length; i++) {
    const v = new Array<number | null>(fieldCount);
    for (let f = 0; f < fieldCount; f++) {
      const x = values[i * fieldCount + f]!;
      v[f] = Number.isNaN(x) ? null : x;
    }
    out[i] = { timeUs: times[i]!, keys: tuples[keyIndex[i]!]!, values: v };
  }
  return out;
}

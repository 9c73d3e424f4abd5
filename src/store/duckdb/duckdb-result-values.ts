import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import type { DatasetLayout } from '../../core/dataset.js';
import type { ScanChunk } from '../series-store.js';

/** Conversions from DuckDB result values to the plain types of the SeriesStore port. */

export function textOf(v: DuckDBValue): string {
  return typeof v === 'string' ? v : String(v);
}

export function textOrNull(v: DuckDBValue): string | null {
  return v === null ? null : textOf(v);
}

export function numberOrNull(v: DuckDBValue): number | null {
  if (v === null) return null;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return Number(String(v));
}

/** The first column of a query's rows as doubles (NULL as NaN), read chunk by chunk. */
export async function readDoubles(
  conn: DuckDBConnection,
  sql: string,
  params: (string | number | bigint)[],
): Promise<Float64Array> {
  const result = await conn.stream(sql, params);
  let out = new Float64Array(1024);
  let n = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (chunk === null || chunk.rowCount === 0) break;
    const v = chunk.getColumnVector(0);
    if (n + chunk.rowCount > out.length) {
      const grown = new Float64Array(Math.max(out.length * 2, n + chunk.rowCount));
      grown.set(out.subarray(0, n));
      out = grown;
    }
    for (let r = 0; r < chunk.rowCount; r++) out[n++] = numberOrNull(v.getItem(r)) ?? NaN;
  }
  return out.slice(0, n);
}

/** Rows per chunk handed to a scan callback: big enough to amortise the call, small enough to stay flat. */
export const SCAN_CHUNK_ROWS = 50_000;

class ScanChunkBuilder {
  length = 0;
  keys: string[][];
  timeUs: Float64Array | null;
  fields: Float64Array[];
  hashes: Float64Array | null;
  seqs: Float64Array;

  constructor(layout: DatasetLayout, capacity: number) {
    this.keys = layout.keys.map(() => []);
    this.timeUs = layout.time === undefined ? null : new Float64Array(capacity);
    this.fields = layout.fields.map(() => new Float64Array(capacity));
    this.hashes = layout.spec.dedup === 'none' ? null : new Float64Array(capacity);
    this.seqs = new Float64Array(capacity);
  }

  build(): ScanChunk {
    const n = this.length;
    return {
      length: n,
      keys: this.keys,
      timeUs: this.timeUs === null ? null : this.timeUs.subarray(0, n),
      fields: this.fields.map((f) => f.subarray(0, n)),
      hashes: this.hashes === null ? null : this.hashes.subarray(0, n),
      seqs: this.seqs.subarray(0, n),
    };
  }
}

/**
 * Streams the dataset's rows (columns from `scanSql`) and regroups DuckDB's small vectors into
 * chunks of about SCAN_CHUNK_ROWS rows. NULL numbers become NaN, as in a ColumnarBatch.
 */
export async function streamScan(
  conn: DuckDBConnection,
  layout: DatasetLayout,
  onChunk: (chunk: ScanChunk) => void | Promise<void>,
  sql: string,
): Promise<void> {
  const result = await conn.stream(sql);
  const nk = layout.keys.length;
  const nf = layout.fields.length;
  let builder: ScanChunkBuilder | undefined;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (chunk === null || chunk.rowCount === 0) break;
    const rows = chunk.rowCount;
    if (builder !== undefined && builder.length + rows > SCAN_CHUNK_ROWS) {
      await onChunk(builder.build());
      builder = undefined;
    }
    builder ??= new ScanChunkBuilder(layout, Math.max(SCAN_CHUNK_ROWS, rows));
    const at = builder.length;
    for (let k = 0; k < nk; k++) {
      const v = chunk.getColumnVector(k);
      const out = builder.keys[k]!;
      for (let r = 0; r < rows; r++) out.push(textOf(v.getItem(r)));
    }
    const fillNumbers = (column: number, out: Float64Array | null): void => {
      if (out === null) return;
      const v = chunk.getColumnVector(column);
      for (let r = 0; r < rows; r++) out[at + r] = numberOrNull(v.getItem(r)) ?? NaN;
    };
    fillNumbers(nk, builder.timeUs);
    for (let f = 0; f < nf; f++) fillNumbers(nk + 1 + f, builder.fields[f]!);
    fillNumbers(nk + 1 + nf, builder.hashes);
    fillNumbers(nk + 2 + nf, builder.seqs);
    builder.length += rows;
  }
  if (builder !== undefined && builder.length > 0) await onChunk(builder.build());
}

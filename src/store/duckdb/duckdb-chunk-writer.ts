import duckdb from '@duckdb/node-bindings';
import { BIGINT, DOUBLE, DuckDBDataChunk, TIMESTAMP, VARCHAR, type DuckDBType } from '@duckdb/node-api';
import type { ColumnarBatch } from '../../core/batch.js';
import type { DatasetLayout } from '../../core/dataset.js';
import { SluiceError } from '../../core/errors.js';
import { VectorScratch, fillAllNull, fillDoubles, fillInt64s, fillStrings } from './duckdb-vector-fill.js';

/**
 * Rows per data chunk handed to the appender. Filling and appending one chunk is a single
 * synchronous step on the event loop, and the store yields between chunks, so this bounds how long a
 * concurrent request can wait behind an append (well under 1 ms for a 3-column dataset).
 */
export const APPEND_CHUNK_ROWS = Math.min(2048, duckdb.vector_size());

/** Chunk column types, in `physicalColumns` order; they match the table's, so nothing is cast. */
function chunkTypes(layout: DatasetLayout): DuckDBType[] {
  return [
    ...layout.keys.map(() => VARCHAR),
    TIMESTAMP,
    ...layout.fields.map(() => DOUBLE),
    ...layout.payloads.map(() => VARCHAR),
    ...layout.attributes.map(() => VARCHAR),
    DOUBLE,
    BIGINT,
  ];
}

/**
 * Copies slices of a batch's kept rows into one reusable DuckDB data chunk. Measured against the
 * node-api vector wrappers, row-by-row appending and `INSERT ... SELECT unnest(list params)`, writing
 * whole vectors from typed arrays is the fastest path: numbers cost one native copy per column, and
 * only strings longer than 12 bytes cost a native call per value.
 *
 * One writer serves one dataset layout on one connection; the appender copies a chunk's contents, so
 * the chunk is reset and refilled for every slice.
 */
export class ChunkWriter {
  readonly chunk: DuckDBDataChunk;
  private readonly scratch = new VectorScratch(APPEND_CHUNK_ROWS);
  private readonly columnCount: number;

  constructor(readonly layout: DatasetLayout) {
    const types = chunkTypes(layout);
    this.columnCount = types.length;
    this.chunk = DuckDBDataChunk.create(types);
  }

  /**
   * Fills the chunk with rows `rows[from .. from + size)` of `batch` (size ≤ APPEND_CHUNK_ROWS) and
   * returns it for `appendDataChunk`. Throws (SluiceError) on a value that cannot be stored.
   */
  fill(batch: ColumnarBatch, rows: Uint32Array, from: number, size: number): DuckDBDataChunk {
    if (size > APPEND_CHUNK_ROWS) {
      throw new SluiceError('internal', `a data chunk holds at most ${APPEND_CHUNK_ROWS} rows, got ${size}`);
    }
    const raw = this.chunk.chunk;
    // Reset drops the previous slice's string heap and validity masks: every row starts valid.
    duckdb.data_chunk_reset(raw);
    duckdb.data_chunk_set_size(raw, size);
    const s = this.scratch;
    let col = 0;
    const next = (): duckdb.Vector => duckdb.data_chunk_get_vector(raw, col++);
    for (const values of batch.keys) fillStrings(next(), s, values, rows, from, size);
    if (batch.timeUs === null) fillAllNull(next(), s, size);
    else fillInt64s(next(), s, batch.timeUs, rows, from, size, 'time');
    for (const values of batch.fields) fillDoubles(next(), s, values, rows, from, size);
    for (const values of batch.payloads) fillStrings(next(), s, values, rows, from, size);
    for (const values of batch.attributes) fillStrings(next(), s, values, rows, from, size);
    if (batch.hashes === null) fillAllNull(next(), s, size);
    else fillDoubles(next(), s, batch.hashes, rows, from, size);
    fillInt64s(next(), s, batch.lines, rows, from, size, 'line');
    if (col !== this.columnCount) {
      throw new SluiceError(
        'internal',
        `dataset ${this.layout.spec.name}: filled ${col} of ${this.columnCount} columns`,
      );
    }
    return this.chunk;
  }
}

/** Indices of the rows to store, in batch order. */
export function keptRows(length: number, keep: Uint8Array | undefined): Uint32Array {
  if (keep === undefined) {
    const all = new Uint32Array(length);
    for (let i = 0; i < length; i++) all[i] = i;
    return all;
  }
  let n = 0;
  for (let i = 0; i < length; i++) if (keep[i] === 1) n++;
  const rows = new Uint32Array(n);
  n = 0;
  for (let i = 0; i < length; i++) if (keep[i] === 1) rows[n++] = i;
  return rows;
}

/** Throws before anything is written when the batch's columns do not fit the layout. */
export function assertBatchFits(
  layout: DatasetLayout,
  batch: ColumnarBatch,
  keep: Uint8Array | undefined,
): void {
  const problems: string[] = [];
  const n = batch.length;
  const checkGroup = (what: string, expected: number, cols: readonly { length: number }[]): void => {
    if (cols.length !== expected) problems.push(`${cols.length} ${what} columns, layout has ${expected}`);
    cols.forEach((c, i) => {
      if (c.length < n) problems.push(`${what} column ${i} holds ${c.length} values for ${n} rows`);
    });
  };
  if (batch.dataset !== layout.spec.name) problems.push(`batch is for dataset ${batch.dataset}`);
  checkGroup('key', layout.keys.length, batch.keys);
  checkGroup('field', layout.fields.length, batch.fields);
  checkGroup('payload', layout.payloads.length, batch.payloads);
  checkGroup('attribute', layout.attributes.length, batch.attributes);
  if (layout.time !== undefined && batch.timeUs === null)
    problems.push('the layout has a time column, the batch none');
  if (batch.timeUs !== null && batch.timeUs.length < n)
    problems.push('time column is shorter than the batch');
  if (batch.hashes !== null && batch.hashes.length < n)
    problems.push('hash column is shorter than the batch');
  if (batch.lines.length < n) problems.push('line column is shorter than the batch');
  if (keep !== undefined && keep.length < n) problems.push('keep mask is shorter than the batch');
  if (problems.length > 0) {
    throw new SluiceError(
      'internal',
      `batch ${batch.id} does not fit dataset ${layout.spec.name}: ${problems.join('; ')}`,
    );
  }
}

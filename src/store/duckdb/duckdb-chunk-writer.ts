import duckdb from '@duckdb/node-bindings';
import type { ColumnarBatch } from '../../core/batch.js';
import type { DatasetLayout } from '../../core/dataset.js';
import { SluiceError } from '../../core/errors.js';
import {
  type VectorScratch,
  fillAllNull,
  fillConstantInt64,
  fillDoubles,
  fillInt64s,
  fillStrings,
} from './duckdb-vector-fill.js';

/** Rows per data chunk: DuckDB's vector size, 2048 in every release so far. */
export const APPEND_CHUNK_ROWS = Math.min(2048, duckdb.vector_size());

/**
 * Fills a DuckDB data chunk with rows `rows[from .. from + size)` of `batch` (size ≤
 * APPEND_CHUNK_ROWS), in `physicalColumns` order: keys, time, fields, payloads, attributes, `_hash`,
 * `_line`, `_seq` (the constant `seq`). The chunk's columns must have those types (VARCHAR,
 * TIMESTAMP, DOUBLE, ..., DOUBLE, BIGINT, BIGINT). Throws (SluiceError) on a value that cannot be stored.
 *
 * Measured against the node-api vector wrappers, row-by-row appending and `INSERT ... SELECT
 * unnest(list params)`, writing whole vectors from typed arrays is the fastest path: numbers cost
 * one native copy per column, and only strings longer than 12 bytes cost a native call per value.
 */
export function fillChunk(
  chunk: duckdb.DataChunk,
  scratch: VectorScratch,
  batch: ColumnarBatch,
  rows: Uint32Array,
  from: number,
  size: number,
  seq: number,
): void {
  if (size > scratch.capacity) {
    throw new SluiceError('internal', `a data chunk holds at most ${scratch.capacity} rows, got ${size}`);
  }
  // Reset drops any earlier contents, string heap and validity masks: every row starts valid.
  duckdb.data_chunk_reset(chunk);
  duckdb.data_chunk_set_size(chunk, size);
  const columns = duckdb.data_chunk_get_column_count(chunk);
  const expected =
    batch.keys.length + batch.fields.length + batch.payloads.length + batch.attributes.length + 4;
  if (columns !== expected) {
    throw new SluiceError('internal', `batch ${batch.id} has ${expected} columns, the data chunk ${columns}`);
  }
  const s = scratch;
  let col = 0;
  const next = (): duckdb.Vector => duckdb.data_chunk_get_vector(chunk, col++);
  for (const values of batch.keys) fillStrings(next(), s, values, rows, from, size);
  if (batch.timeUs === null) fillAllNull(next(), s, size);
  else fillInt64s(next(), s, batch.timeUs, rows, from, size, 'time');
  for (const values of batch.fields) fillDoubles(next(), s, values, rows, from, size);
  for (const values of batch.payloads) fillStrings(next(), s, values, rows, from, size);
  for (const values of batch.attributes) fillStrings(next(), s, values, rows, from, size);
  if (batch.hashes === null) fillAllNull(next(), s, size);
  else fillDoubles(next(), s, batch.hashes, rows, from, size);
  fillInt64s(next(), s, batch.lines, rows, from, size, 'line');
  fillConstantInt64(next(), s, seq, size);
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

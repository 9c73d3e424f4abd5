import duckdb from '@duckdb/node-bindings';
import {
  BIGINT,
  BLOB,
  DOUBLE,
  DuckDBTableFunction,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBDataChunk,
  type DuckDBTableFunctionBindInfo,
} from '@duckdb/node-api';
import { ROLLUP_EXACT_VALUES, type RollupCell } from '../../apply/rollups/rollup-cell.js';
import type { DatasetLayout } from '../../core/dataset.js';
import { SluiceError } from '../../core/errors.js';
import { APPEND_CHUNK_ROWS } from './duckdb-chunk-writer.js';
import { quoteIdent } from './duckdb-sql.js';
import { VectorScratch, fillBlobs, fillDoubles, fillInt64s, fillStrings } from './duckdb-vector-fill.js';

/** The table function's name; registered once, on the store's rollup connection. */
export const ROLLUP_ROWS_FUNCTION = 'sluice_rollup_rows';

interface PendingCells {
  readonly layout: DatasetLayout;
  readonly cells: readonly RollupCell[];
  at: number;
  failure: unknown;
}

/**
 * Writes rollup cells into a rollup table with `INSERT … SELECT * FROM sluice_rollup_rows()`: each
 * 2048-row chunk is gathered into typed arrays and copied into DuckDB's vectors whole (see
 * duckdb-vector-fill.ts), instead of one appender call per value, which measured as the largest cost
 * of a rollup flush. Column order follows `rollupColumnDefs`.
 */
export class RollupRowsSource {
  private pending: PendingCells | undefined;
  private readonly scratch = new VectorScratch(APPEND_CHUNK_ROWS);
  private readonly identity = Uint32Array.from({ length: APPEND_CHUNK_ROWS }, (_, i) => i);

  constructor(conn: DuckDBConnection) {
    conn.registerTableFunction(
      DuckDBTableFunction.create({
        name: ROLLUP_ROWS_FUNCTION,
        bindFunction: (info) => this.bind(info),
        initFunction: (info) => info.setMaxThreads(1),
        mainFunction: (_info, output) => this.produce(output),
      }),
    );
  }

  /** Inserts `cells` into `table`, inside `conn`'s open transaction. */
  async insert(
    conn: DuckDBConnection,
    layout: DatasetLayout,
    table: string,
    cells: readonly RollupCell[],
  ): Promise<void> {
    if (cells.length === 0) return;
    if (this.pending !== undefined)
      throw new SluiceError('internal', 'another rollup write is still copying rows');
    const pending: PendingCells = { layout, cells, at: 0, failure: undefined };
    this.pending = pending;
    try {
      await conn.run(`INSERT INTO ${quoteIdent(table)} SELECT * FROM ${ROLLUP_ROWS_FUNCTION}()`);
    } catch (e) {
      throw pending.failure ?? e;
    } finally {
      this.pending = undefined;
    }
    if (pending.at !== cells.length)
      throw new SluiceError('internal', `DuckDB took ${pending.at} of ${cells.length} rollup rows`);
  }

  private bind(info: DuckDBTableFunctionBindInfo): void {
    const p = this.pending;
    if (p === undefined) {
      info.setError(`${ROLLUP_ROWS_FUNCTION}() only serves the series store's own rollup writes`);
      return;
    }
    for (const k of p.layout.keys) info.addResultColumn(k.name, VARCHAR);
    info.addResultColumn('bucket', BIGINT);
    info.addResultColumn('rows', BIGINT);
    for (const f of p.layout.fields) {
      info.addResultColumn(`${f.name}.count`, BIGINT);
      for (const part of ['sum', 'min', 'max', 'sumsq']) info.addResultColumn(`${f.name}.${part}`, DOUBLE);
      info.addResultColumn(`${f.name}.sketch`, BLOB);
    }
    info.setCardinality(p.cells.length, true);
  }

  private produce(output: DuckDBDataChunk): void {
    const p = this.pending;
    const size = p === undefined ? 0 : Math.min(APPEND_CHUNK_ROWS, p.cells.length - p.at);
    if (p === undefined || size <= 0) {
      duckdb.data_chunk_set_size(output.chunk, 0);
      return;
    }
    try {
      this.fill(output.chunk, p, size);
    } catch (e) {
      p.failure = e;
      throw e;
    }
    p.at += size;
  }

  private fill(chunk: duckdb.DataChunk, p: PendingCells, size: number): void {
    const { cells, at } = p;
    const s = this.scratch;
    const rows = this.identity;
    const nk = p.layout.keys.length;
    const nf = p.layout.fields.length;
    // One pass over the cells gathers every column; then each column is one copy into its vector.
    const cols = this.columns(nk, nf, size);
    for (let j = 0; j < size; j++) {
      const c = cells[at + j]!;
      for (let k = 0; k < nk; k++) cols.keys[k]![j] = c.keys[k]!;
      cols.bucket[j] = c.bucketUs;
      cols.rows[j] = c.rows;
      for (let f = 0; f < nf; f++) {
        const r = c.fields[f]!;
        const o = f * 5;
        cols.nums[o]![j] = r.count;
        cols.nums[o + 1]![j] = r.sum;
        // NaN is stored as NULL: an empty field has no min or max.
        cols.nums[o + 2]![j] = r.count === 0 ? NaN : r.min;
        cols.nums[o + 3]![j] = r.count === 0 ? NaN : r.max;
        cols.nums[o + 4]![j] = r.sumSq;
        cols.blobs[f]![j] = r.sketch === null ? null : r.sketch.toBytes(ROLLUP_EXACT_VALUES);
      }
    }
    duckdb.data_chunk_reset(chunk);
    duckdb.data_chunk_set_size(chunk, size);
    let col = 0;
    const next = (): duckdb.Vector => duckdb.data_chunk_get_vector(chunk, col++);
    for (let k = 0; k < nk; k++) fillStrings(next(), s, cols.keys[k]!, rows, 0, size);
    fillInt64s(next(), s, cols.bucket, rows, 0, size, 'bucket');
    fillInt64s(next(), s, cols.rows, rows, 0, size, 'rows');
    for (let f = 0; f < nf; f++) {
      fillInt64s(next(), s, cols.nums[f * 5]!, rows, 0, size, 'count');
      for (let part = 1; part < 5; part++) fillDoubles(next(), s, cols.nums[f * 5 + part]!, rows, 0, size);
      fillBlobs(next(), s, cols.blobs[f]!, size);
    }
  }

  private scratchColumns: ReturnType<RollupRowsSource['makeColumns']> | undefined;

  private columns(nk: number, nf: number, size: number) {
    const c = this.scratchColumns;
    if (c !== undefined && c.keys.length === nk && c.blobs.length === nf) {
      for (const b of c.blobs) b.length = size;
      for (const k of c.keys) k.length = size;
      return c;
    }
    return (this.scratchColumns = this.makeColumns(nk, nf));
  }

  private makeColumns(nk: number, nf: number) {
    const n = APPEND_CHUNK_ROWS;
    return {
      keys: Array.from({ length: nk }, () => new Array<string>(n)),
      bucket: new Float64Array(n),
      rows: new Float64Array(n),
      nums: Array.from({ length: nf * 5 }, () => new Float64Array(n)),
      blobs: Array.from({ length: nf }, () => new Array<Uint8Array | null>(n).fill(null)),
    };
  }
}

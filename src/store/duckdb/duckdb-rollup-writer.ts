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
import type { RollupCell } from '../../apply/rollups/rollup-cell.js';
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
  private readonly numbers = new Float64Array(APPEND_CHUNK_ROWS);

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
    const nums = this.numbers;
    duckdb.data_chunk_reset(chunk);
    duckdb.data_chunk_set_size(chunk, size);
    let col = 0;
    const next = (): duckdb.Vector => duckdb.data_chunk_get_vector(chunk, col++);
    const numbers = (get: (c: RollupCell) => number, int: boolean): void => {
      for (let j = 0; j < size; j++) nums[j] = get(cells[at + j]!);
      if (int) fillInt64s(next(), s, nums, rows, 0, size, 'rollup value');
      else fillDoubles(next(), s, nums, rows, 0, size);
    };
    p.layout.keys.forEach((_, k) => {
      const values: string[] = new Array<string>(size);
      for (let j = 0; j < size; j++) values[j] = cells[at + j]!.keys[k]!;
      fillStrings(next(), s, values, rows, 0, size);
    });
    numbers((c) => c.bucketUs, true);
    numbers((c) => c.rows, true);
    p.layout.fields.forEach((_, f) => {
      numbers((c) => c.fields[f]!.count, true);
      numbers((c) => c.fields[f]!.sum, false);
      // NaN is stored as NULL: an empty field has no min or max.
      numbers((c) => (c.fields[f]!.count === 0 ? NaN : c.fields[f]!.min), false);
      numbers((c) => (c.fields[f]!.count === 0 ? NaN : c.fields[f]!.max), false);
      numbers((c) => c.fields[f]!.sumSq, false);
      const blobs: (Uint8Array | null)[] = new Array<Uint8Array | null>(size);
      for (let j = 0; j < size; j++) blobs[j] = cells[at + j]!.fields[f]!.sketch?.toBytes() ?? null;
      fillBlobs(next(), s, blobs, size);
    });
  }
}

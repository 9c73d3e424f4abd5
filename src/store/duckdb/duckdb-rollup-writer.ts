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
import type { CellBlock } from '../../apply/rollups/cell-block.js';
import type { DatasetLayout } from '../../core/dataset.js';
import { SluiceError } from '../../core/errors.js';
import { APPEND_CHUNK_ROWS } from './duckdb-chunk-writer.js';
import { quoteIdent } from './duckdb-sql.js';
import { VectorScratch, fillBlobs, fillDoubles, fillInt64s, fillStrings } from './duckdb-vector-fill.js';

/** The table function's name; registered once, on the store's rollup connection. */
export const ROLLUP_ROWS_FUNCTION = 'sluice_rollup_rows';

/** Cells of a block to write, by index. */
export interface BlockCells {
  readonly block: CellBlock;
  readonly cells: Uint32Array;
}

interface PendingCells {
  readonly layout: DatasetLayout;
  readonly parts: readonly BlockCells[];
  readonly total: number;
  part: number;
  /** Next cell of the current part. */
  at: number;
  written: number;
  failure: unknown;
}

/**
 * Writes rollup cells into a rollup table with `INSERT … SELECT * FROM sluice_rollup_rows()`: each
 * 2048-row chunk is copied into DuckDB's vectors column by column from the blocks' typed arrays (see
 * duckdb-vector-fill.ts), instead of one appender call per value. Column order follows
 * `rollupColumnDefs`.
 */
export class RollupRowsSource {
  private pending: PendingCells | undefined;
  private readonly scratch = new VectorScratch(APPEND_CHUNK_ROWS);
  private readonly identity = Uint32Array.from({ length: APPEND_CHUNK_ROWS }, (_, i) => i);
  private readonly keys: string[][] = [];
  private readonly lows = new Float64Array(APPEND_CHUNK_ROWS);
  private readonly highs = new Float64Array(APPEND_CHUNK_ROWS);
  private readonly blobs: (Uint8Array | null)[] = new Array<Uint8Array | null>(APPEND_CHUNK_ROWS).fill(null);

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

  /** Inserts the cells into `table`, inside `conn`'s open transaction. */
  async insert(
    conn: DuckDBConnection,
    layout: DatasetLayout,
    table: string,
    parts: readonly BlockCells[],
  ): Promise<void> {
    const total = parts.reduce((n, p) => n + p.cells.length, 0);
    if (total === 0) return;
    if (this.pending !== undefined)
      throw new SluiceError('internal', 'another rollup write is still copying rows');
    const pending: PendingCells = { layout, parts, total, part: 0, at: 0, written: 0, failure: undefined };
    this.pending = pending;
    try {
      await conn.run(`INSERT INTO ${quoteIdent(table)} SELECT * FROM ${ROLLUP_ROWS_FUNCTION}()`);
    } catch (e) {
      throw pending.failure ?? e;
    } finally {
      this.pending = undefined;
    }
    if (pending.written !== total)
      throw new SluiceError('internal', `DuckDB took ${pending.written} of ${total} rollup rows`);
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
    info.setCardinality(p.total, true);
  }

  private produce(output: DuckDBDataChunk): void {
    const p = this.pending;
    while (p !== undefined && p.part < p.parts.length && p.at >= p.parts[p.part]!.cells.length) {
      p.part++;
      p.at = 0;
    }
    if (p === undefined || p.part >= p.parts.length) {
      duckdb.data_chunk_set_size(output.chunk, 0);
      return;
    }
    const part = p.parts[p.part]!;
    const size = Math.min(APPEND_CHUNK_ROWS, part.cells.length - p.at);
    try {
      this.fill(output.chunk, p.layout, part, p.at, size);
    } catch (e) {
      p.failure = e;
      throw e;
    }
    p.at += size;
    p.written += size;
  }

  private fill(
    chunk: duckdb.DataChunk,
    layout: DatasetLayout,
    part: BlockCells,
    at: number,
    size: number,
  ): void {
    const s = this.scratch;
    const { block, cells } = part;
    const nk = layout.keys.length;
    while (this.keys.length < nk) this.keys.push(new Array<string>(APPEND_CHUNK_ROWS));
    for (let j = 0; j < size; j++) {
      const keys = block.seriesKeys[block.seriesOf[cells[at + j]!]!]!;
      for (let k = 0; k < nk; k++) this.keys[k]![j] = keys[k]!;
    }
    duckdb.data_chunk_reset(chunk);
    duckdb.data_chunk_set_size(chunk, size);
    let col = 0;
    const next = (): duckdb.Vector => duckdb.data_chunk_get_vector(chunk, col++);
    for (let k = 0; k < nk; k++) fillStrings(next(), s, this.keys[k]!, this.identity, 0, size);
    fillInt64s(next(), s, block.bucketUs, cells, at, size, 'bucket');
    fillInt64s(next(), s, block.rows, cells, at, size, 'rows');
    for (const f of block.fields) {
      fillInt64s(next(), s, f.count, cells, at, size, 'count');
      fillDoubles(next(), s, f.sum, cells, at, size);
      // An empty field has no min or max: NaN is stored as NULL.
      for (let j = 0; j < size; j++) {
        const c = cells[at + j]!;
        const empty = f.count[c] === 0;
        this.lows[j] = empty ? NaN : f.min[c]!;
        this.highs[j] = empty ? NaN : f.max[c]!;
        const len = f.sketch.length[c]!;
        const from = f.sketch.start[c]!;
        this.blobs[j] = len === 0 ? null : f.sketch.bytes.subarray(from, from + len);
      }
      fillDoubles(next(), s, this.lows, this.identity, 0, size);
      fillDoubles(next(), s, this.highs, this.identity, 0, size);
      fillDoubles(next(), s, f.sumSq, cells, at, size);
      fillBlobs(next(), s, this.blobs, size);
    }
  }
}

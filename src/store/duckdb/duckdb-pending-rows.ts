import duckdb from '@duckdb/node-bindings';
import {
  BIGINT,
  DOUBLE,
  DuckDBTableFunction,
  TIMESTAMP,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBDataChunk,
  type DuckDBTableFunctionBindInfo,
  type DuckDBType,
} from '@duckdb/node-api';
import type { ColumnarBatch } from '../../core/batch.js';
import type { DatasetLayout } from '../../core/dataset.js';
import { SluiceError } from '../../core/errors.js';
import { APPEND_CHUNK_ROWS, fillChunk } from './duckdb-chunk-writer.js';
import { physicalColumns, quoteIdent, type PhysicalType } from './duckdb-sql.js';
import { VectorScratch } from './duckdb-vector-fill.js';

/** The table function's name; one store owns its DuckDB instance, so one registration per instance. */
export const PENDING_ROWS_FUNCTION = 'sluice_pending_rows';

const DUCKDB_TYPES: Record<PhysicalType, DuckDBType> = {
  VARCHAR,
  TIMESTAMP,
  DOUBLE,
  BIGINT,
};

/** Rows of one batch to insert, with the batch's apply sequence. */
export interface PendingPart {
  readonly batch: ColumnarBatch;
  readonly rows: Uint32Array;
  readonly seq: number;
}

interface PendingAppend {
  readonly layout: DatasetLayout;
  readonly parts: readonly PendingPart[];
  readonly total: number;
  /** The part being copied, and its rows handed to DuckDB so far. */
  part: number;
  at: number;
  /** Rows handed to DuckDB so far, over all parts. */
  taken: number;
  /** What a fill threw, so the caller gets it rather than DuckDB's rewording. */
  failure: unknown;
}

/**
 * Copies rows of one or more batches into a table with one
 * `INSERT INTO <table> SELECT * FROM sluice_pending_rows()`, a table function that DuckDB calls once
 * per chunk of at most 2048 rows (a chunk never spans two batches). One statement for a group's rows
 * matters: each statement costs about 2 ms of the store's time whatever its size (timed inside
 * series-append), which at one statement per 8,192-row batch was a third of an insert.
 *
 * Why not an appender: an appender's flush moves rows into the transaction synchronously on the
 * calling thread, and measured as the largest cost of an append on the event loop (about 0.5 ms per
 * 2048 rows, 1.2 ms for 8192 at once). Here the INSERT runs on a DuckDB thread; it calls back into
 * the event loop only to fill each chunk (about 0.15 ms for a 3-column dataset), and each of those
 * calls is its own event-loop task, so queries and requests run between chunks. The statement runs
 * in the connection's open transaction, like any other, so the caller's COMMIT or ROLLBACK covers it.
 *
 * One append at a time: the store's write mutex guarantees it, and `insert` checks.
 */
export class PendingRowsSource {
  private pending: PendingAppend | undefined;
  private readonly scratch = new VectorScratch(APPEND_CHUNK_ROWS);

  constructor(conn: DuckDBConnection) {
    const fn = DuckDBTableFunction.create({
      name: PENDING_ROWS_FUNCTION,
      bindFunction: (info) => this.bind(info),
      // One producer: chunks must come out in order, from one cursor.
      initFunction: (info) => info.setMaxThreads(1),
      mainFunction: (_info, output) => this.produce(output),
    });
    conn.registerTableFunction(fn);
  }

  /**
   * Inserts each part's rows, in order, into `table` (one of the dataset's tables), inside `conn`'s
   * open transaction.
   */
  async insert(
    conn: DuckDBConnection,
    layout: DatasetLayout,
    parts: readonly PendingPart[],
    table: string,
  ): Promise<void> {
    if (this.pending !== undefined) {
      throw new SluiceError('internal', `${describeParts(parts)}: another append is still copying rows`);
    }
    const total = parts.reduce((n, p) => n + p.rows.length, 0);
    const pending: PendingAppend = { layout, parts, total, part: 0, at: 0, taken: 0, failure: undefined };
    this.pending = pending;
    try {
      await conn.run(`INSERT INTO ${quoteIdent(table)} SELECT * FROM ${PENDING_ROWS_FUNCTION}()`);
    } catch (e) {
      throw pending.failure ?? e;
    } finally {
      this.pending = undefined;
    }
    if (pending.taken !== total) {
      throw new SluiceError(
        'internal',
        `${describeParts(parts)}: DuckDB took ${pending.taken} of ${total} rows`,
      );
    }
  }

  private bind(info: DuckDBTableFunctionBindInfo): void {
    const p = this.pending;
    if (p === undefined) {
      info.setError(`${PENDING_ROWS_FUNCTION}() only serves the series store's own appends`);
      return;
    }
    for (const c of physicalColumns(p.layout)) info.addResultColumn(c.name, DUCKDB_TYPES[c.type]);
    info.setCardinality(p.total, true);
  }

  private produce(output: DuckDBDataChunk): void {
    const p = this.pending;
    if (p !== undefined) {
      while (p.part < p.parts.length && p.at >= p.parts[p.part]!.rows.length) {
        p.part++;
        p.at = 0;
      }
    }
    const part = p?.parts[p.part];
    if (p === undefined || part === undefined) {
      // A zero-row chunk tells DuckDB the scan is over.
      duckdb.data_chunk_set_size(output.chunk, 0);
      return;
    }
    const size = Math.min(APPEND_CHUNK_ROWS, part.rows.length - p.at);
    try {
      fillChunk(output.chunk, this.scratch, part.batch, part.rows, p.at, size, part.seq);
    } catch (e) {
      p.failure = e;
      throw e;
    }
    p.at += size;
    p.taken += size;
  }
}

function describeParts(parts: readonly PendingPart[]): string {
  const first = parts[0]?.batch.id;
  const last = parts.at(-1)?.batch.id;
  return first === last ? `batch ${first}` : `batches ${first} to ${last}`;
}

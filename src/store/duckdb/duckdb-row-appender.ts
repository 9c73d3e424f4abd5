import {
  BIGINT,
  DOUBLE,
  DuckDBDataChunk,
  TIMESTAMP,
  VARCHAR,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBType,
} from '@duckdb/node-api';
import type { ColumnarBatch } from '../../core/batch.js';
import type { DatasetLayout } from '../../core/dataset.js';
import { APPEND_CHUNK_ROWS, fillChunk } from './duckdb-chunk-writer.js';
import { physicalColumns, type PhysicalType } from './duckdb-sql.js';
import { VectorScratch } from './duckdb-vector-fill.js';

const DUCKDB_TYPES: Record<PhysicalType, DuckDBType> = { VARCHAR, TIMESTAMP, DOUBLE, BIGINT };

/**
 * Copies rows of a batch into a table with DuckDB's appender, one 2048-row data chunk at a time. The
 * appender writes into the connection's open transaction, so the caller's COMMIT or ROLLBACK covers
 * these rows like any other statement's.
 *
 * Why an appender: it hands DuckDB whole chunks filled here, on the calling thread. The earlier path, an
 * `INSERT … SELECT` from a table function, had DuckDB's worker call back into JavaScript for every
 * chunk, a hand-off between threads each time; on the series store thread, which does not answer HTTP
 * requests, the appender's synchronous flush (a few milliseconds per batch) blocks nothing that waits.
 * An ingest's CPU fell by about a tenth (docs/performance.md). With `storage.series_thread` off the flush
 * runs on the event loop.
 *
 * One data chunk per column shape is reused for every append: `fillChunk` resets it first.
 */
export class RowAppender {
  private readonly scratch = new VectorScratch(APPEND_CHUNK_ROWS);
  private readonly chunks = new Map<string, DuckDBDataChunk>();

  async append(
    conn: DuckDBConnection,
    layout: DatasetLayout,
    batch: ColumnarBatch,
    rows: Uint32Array,
    table: string,
    seq: number,
  ): Promise<void> {
    const chunk = this.chunkFor(layout);
    const appender = await conn.createAppender(table);
    try {
      for (let at = 0; at < rows.length; at += APPEND_CHUNK_ROWS) {
        const size = Math.min(APPEND_CHUNK_ROWS, rows.length - at);
        fillChunk(chunk.chunk, this.scratch, batch, rows, at, size, seq);
        appender.appendDataChunk(chunk);
      }
    } catch (e) {
      // A failed fill leaves a partial batch in the appender: drop it rather than flush it on close.
      discard(appender);
      throw e;
    }
    appender.closeSync();
  }

  private chunkFor(layout: DatasetLayout): DuckDBDataChunk {
    const types = physicalColumns(layout).map((c) => c.type);
    const shape = types.join(',');
    let chunk = this.chunks.get(shape);
    if (chunk === undefined) {
      chunk = DuckDBDataChunk.create(types.map((t) => DUCKDB_TYPES[t]));
      this.chunks.set(shape, chunk);
    }
    return chunk;
  }
}

function discard(appender: DuckDBAppender): void {
  try {
    appender.clear();
    appender.closeSync();
  } catch {
    // The caller rolls the transaction back, which drops whatever the appender had flushed.
  }
}

import type { DuckDBConnection } from '@duckdb/node-api';
import { RESOLUTION_US } from '../../apply/rollups/rollup-cell.js';
import type { DatasetLayout } from '../../core/dataset.js';
import type { RetentionResult } from '../series-store.js';
import { DAY_US, partitionTableOf, type PartitionMap } from './duckdb-partitions.js';
import { numberOrNull } from './duckdb-result-values.js';
import { rollupTablesOf } from './duckdb-rollups.js';
import { quoteIdent } from './duckdb-sql.js';

/**
 * Raw retention for one dataset, under the store's write mutex: day partitions that end at or before
 * `beforeUs` are dropped whole (a DROP TABLE, whose space DuckDB reuses after the next checkpoint).
 */
export async function dropExpiredPartitions(
  writer: DuckDBConnection,
  layout: DatasetLayout,
  partitions: PartitionMap,
  beforeUs: number,
): Promise<Omit<RetentionResult, 'rollupRowsDropped'>> {
  const name = layout.spec.name;
  const result = { partitionsDropped: 0, rowsDropped: 0 };
  for (const day of partitions.daysOf(name)) {
    if ((day + 1) * DAY_US > beforeUs) break;
    const table = quoteIdent(partitionTableOf(name, day));
    const counted = await writer.runAndReadAll(`SELECT count(*) FROM ${table}`);
    // Readers build their table list from the map: take the day out before the table goes.
    partitions.remove(name, day);
    try {
      await writer.run(`DROP TABLE IF EXISTS ${table}`);
    } catch (e) {
      partitions.add(name, day);
      throw e;
    }
    result.partitionsDropped++;
    result.rowsDropped += numberOrNull(counted.getRows()[0]?.[0] ?? null) ?? 0;
  }
  return result;
}

/**
 * Rollup retention, under the store's rollup mutex: buckets that end at or before `beforeUs` are
 * deleted from the rollup tables, which are small next to the raw data. Returns the rows deleted.
 */
export async function deleteExpiredRollups(
  conn: DuckDBConnection,
  layout: DatasetLayout,
  tables: ReadonlySet<string>,
  beforeUs: number,
): Promise<number> {
  let deletedRows = 0;
  for (const { table, res } of rollupTablesOf(layout)) {
    if (!tables.has(table)) continue;
    const deleted = await conn.runAndReadAll(
      `DELETE FROM ${quoteIdent(table)} WHERE bucket + $1::BIGINT <= $2::BIGINT`,
      [BigInt(RESOLUTION_US[res]), BigInt(Math.trunc(beforeUs))],
    );
    deletedRows += numberOrNull(deleted.getRows()[0]?.[0] ?? null) ?? 0;
  }
  return deletedRows;
}

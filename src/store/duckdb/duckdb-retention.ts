import type { DuckDBConnection } from '@duckdb/node-api';
import { RESOLUTION_US, ROLLUP_RESOLUTIONS } from '../../apply/rollups/rollup-cell.js';
import type { DatasetLayout } from '../../core/dataset.js';
import type { RetentionCutoffs, RetentionResult } from '../series-store.js';
import { DAY_US, partitionTableOf, type PartitionMap } from './duckdb-partitions.js';
import { numberOrNull } from './duckdb-result-values.js';
import { rollupTableOf } from './duckdb-rollups.js';
import { quoteIdent } from './duckdb-sql.js';

/**
 * Retention for one dataset, under the store's write mutex: raw day partitions that end at or before
 * the raw cutoff are dropped whole (a DROP TABLE, whose space DuckDB reuses after the next
 * checkpoint); rollup buckets that end at or before the rollup cutoff are deleted from the rollup
 * tables, which are small next to the raw data.
 */
export async function dropExpiredData(
  writer: DuckDBConnection,
  layout: DatasetLayout,
  partitions: PartitionMap,
  tables: ReadonlySet<string>,
  cutoffs: RetentionCutoffs,
): Promise<RetentionResult> {
  const name = layout.spec.name;
  const result: RetentionResult = { partitionsDropped: 0, rowsDropped: 0, rollupRowsDropped: 0 };
  for (const day of partitions.daysOf(name)) {
    if ((day + 1) * DAY_US > cutoffs.rawBeforeUs) break;
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
  for (const res of ROLLUP_RESOLUTIONS) {
    const table = rollupTableOf(name, res);
    if (!tables.has(table)) continue;
    const deleted = await writer.runAndReadAll(
      `DELETE FROM ${quoteIdent(table)} WHERE bucket + $1::BIGINT <= $2::BIGINT`,
      [BigInt(RESOLUTION_US[res]), BigInt(Math.trunc(cutoffs.rollupsBeforeUs))],
    );
    result.rollupRowsDropped += numberOrNull(deleted.getRows()[0]?.[0] ?? null) ?? 0;
  }
  return result;
}

import type { DuckDBConnection } from '@duckdb/node-api';
import type { PendingPart } from './duckdb-pending-rows.js';
import { numberOrNull } from './duckdb-result-values.js';
import type { SqlParam } from './duckdb-sql.js';

/**
 * The `_applied` table: one row per stored batch id with the counts it kept, written in the same
 * transaction as the batch's rows, so a replayed batch is recognised and reports what was stored.
 */

export interface AppliedCounts {
  inserted: number;
  duplicate: number;
}

/** The recorded counts of those of `ids` that are applied already. */
export async function appliedCounts(
  conn: DuckDBConnection,
  ids: readonly string[],
): Promise<Map<string, AppliedCounts>> {
  const reader = await conn.runAndReadAll(
    `SELECT batch_id, inserted, duplicate FROM _applied WHERE batch_id IN (${ids.map((_, i) => `$${i + 1}`).join(', ')})`,
    [...ids],
  );
  const out = new Map<string, AppliedCounts>();
  for (const row of reader.getRows())
    out.set(String(row[0]), {
      inserted: numberOrNull(row[1] ?? null) ?? 0,
      duplicate: numberOrNull(row[2] ?? null) ?? 0,
    });
  return out;
}

/**
 * Records the batches as applied with the rows each kept, in one statement (a DuckDB statement costs
 * milliseconds whatever its size), inside `conn`'s open transaction.
 */
export async function recordApplied(conn: DuckDBConnection, stored: readonly PendingPart[]): Promise<void> {
  if (stored.length === 0) return;
  const now = Date.now() * 1000;
  const params: SqlParam[] = [];
  for (const { batch, rows, seq } of stored)
    params.push(batch.id, batch.dataset, rows.length, batch.length - rows.length, now, seq);
  await conn.run(insertAppliedSql(stored.length), params);
}

const insertAppliedCache = new Map<number, string>();

/** Parameters, six a batch: batch id, dataset, inserted, duplicate, applied at (microseconds), seq. */
function insertAppliedSql(n: number): string {
  let sql = insertAppliedCache.get(n);
  if (sql === undefined) {
    const rows: string[] = [];
    for (let i = 0; i < n; i++) {
      const p = (k: number): string => `$${i * 6 + k}`;
      rows.push(
        `(${p(1)}, ${p(2)}, ${p(3)}::BIGINT, ${p(4)}::BIGINT, make_timestamp(${p(5)}::BIGINT), ${p(6)}::BIGINT)`,
      );
    }
    sql = `INSERT INTO _applied (batch_id, dataset, inserted, duplicate, applied_at, seq) VALUES ${rows.join(', ')}`;
    insertAppliedCache.set(n, sql);
  }
  return sql;
}

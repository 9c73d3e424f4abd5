import type { DuckDBConnection } from '@duckdb/node-api';
import type { DatasetLayout } from '../../core/dataset.js';
import { type PartitionMap, partitionTableOf, rowsByDay } from './duckdb-partitions.js';
import type { PendingPart, PendingRowsSource } from './duckdb-pending-rows.js';
import { createTableSql, physicalColumns, tableNameOf } from './duckdb-sql.js';

/**
 * Inserts a group's kept rows inside `writer`'s open transaction, one statement per day partition
 * for the whole group: each day's rows go to that day's partition, created on first use (`created`
 * collects the new days, which join `partitions` only once the transaction commits).
 */
export async function insertGroupRows(
  target: { writer: DuckDBConnection; rows: PendingRowsSource; partitions: PartitionMap },
  layout: DatasetLayout,
  stored: readonly PendingPart[],
  created: number[],
): Promise<void> {
  const { writer, rows: source, partitions } = target;
  const name = layout.spec.name;
  const byDay = new Map<number | undefined, PendingPart[]>();
  for (const { batch, rows, seq } of stored) {
    if (rows.length === 0) continue;
    for (const part of rowsByDay(batch.timeUs, rows)) {
      let parts = byDay.get(part.day);
      if (parts === undefined) byDay.set(part.day, (parts = []));
      parts.push({ batch, rows: part.rows, seq });
    }
  }
  for (const [day, parts] of byDay) {
    let table = tableNameOf(name);
    if (day !== undefined) {
      table = partitionTableOf(name, day);
      if (!partitions.has(name, day) && !created.includes(day)) {
        await writer.run(createTableSql(table, physicalColumns(layout)));
        created.push(day);
      }
    }
    await source.insert(writer, layout, parts, table);
  }
}

import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

/**
 * Times DuckDB (in-process, fresh file database in `dir`) loading a CSV with
 * `CREATE TABLE t AS SELECT * FROM read_csv(...)` and explicit column types, and checks the row count.
 */
export async function duckdbReadCsv(
  dir: string,
  csvFile: string,
  columns: Record<string, string>,
  opts: { header: boolean } = { header: true },
): Promise<{ rows: number; ms: number }> {
  const instance = await DuckDBInstance.create(path.join(dir, 'anchor.duckdb'));
  const conn = await instance.connect();
  try {
    const cols = Object.entries(columns)
      .map(([name, type]) => `'${name}':'${type}'`)
      .join(',');
    const quoted = csvFile.replaceAll("'", "''");
    const t0 = performance.now();
    await conn.run(
      `CREATE TABLE t AS SELECT * FROM read_csv('${quoted}', header=${opts.header}, columns={${cols}})`,
    );
    const ms = performance.now() - t0;
    const reader = await conn.runAndReadAll('SELECT count(*) FROM t');
    const rows = Number(reader.getRows()[0]![0]);
    return { rows, ms };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

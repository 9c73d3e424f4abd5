import type { DuckDBConnection } from '@duckdb/node-api';
import { Gauge, type Registry } from 'prom-client';
import type { MutexPool } from '../../core/async-mutex.js';
import { numberOrNull, textOf } from './duckdb-result-values.js';

/**
 * `sluice_duckdb_memory_bytes{tag}`: DuckDB's own account of its memory, read when metrics are scraped,
 * so an operator can tell DuckDB's share of the process's RSS from the rest (`memory_limit` bounds the
 * buffer-managed tags, not every allocation). `readers` gives the store's read connections, undefined
 * while it is closed.
 */
export function registerDuckDbMemoryGauge(
  metrics: Registry,
  readers: () => MutexPool<DuckDBConnection> | undefined,
): void {
  const readMemory = async (): Promise<[string, number][]> => {
    const pool = readers();
    if (pool === undefined) return [];
    return pool.run(async (conn) => {
      const reader = await conn.runAndReadAll('SELECT tag, memory_usage_bytes FROM duckdb_memory()');
      return reader.getRows().map(([tag, bytes]) => [textOf(tag ?? ''), numberOrNull(bytes ?? null) ?? 0]);
    });
  };
  new Gauge({
    name: 'sluice_duckdb_memory_bytes',
    help: 'Memory the DuckDB series store accounts for, by tag (duckdb_memory())',
    labelNames: ['tag'],
    registers: [metrics],
    async collect() {
      this.reset();
      try {
        for (const [tag, bytes] of await readMemory()) this.set({ tag }, bytes);
      } catch {
        // A closed or reopening database has no figures to give; the next scrape tries again.
      }
    },
  });
}

import type { Logger } from 'pino';
import { SluiceError } from '../core/errors.js';
import { DuckDbSeriesStore, type DuckDbSeriesStoreOptions } from './duckdb/duckdb-series-store.js';
import { ThreadedSeriesStore } from './worker/threaded-series-store.js';
import type { MetaStore } from './meta-store.js';
import type { SeriesStore } from './series-store.js';
import { SqliteMetaStore } from './sqlite/sqlite-meta-store.js';

/** MetaStore factory: one adapter per name; unknown names are a config error. */
export function createMetaStore(kind: string, opts: { path: string }): MetaStore {
  switch (kind) {
    case 'sqlite':
      return new SqliteMetaStore(opts);
    default:
      throw new SluiceError('config_invalid', `Unknown MetaStore '${kind}' (available: sqlite)`);
  }
}

/**
 * SeriesStore factory: one adapter per name; unknown names are a config error. With `thread`, the
 * store runs on a thread of its own behind the same port (ThreadedSeriesStore); its metrics and log
 * then stay on that thread.
 */
export function createSeriesStore(
  kind: string,
  opts: DuckDbSeriesStoreOptions & { thread?: { logLevel: string; log: Logger } },
): SeriesStore {
  switch (kind) {
    case 'duckdb': {
      const { thread, metrics, log, ...plain } = opts;
      if (thread === undefined) return new DuckDbSeriesStore({ ...plain, metrics, log });
      return new ThreadedSeriesStore({ store: plain, logLevel: thread.logLevel }, thread.log);
    }
    default:
      throw new SluiceError('config_invalid', `Unknown SeriesStore '${kind}' (available: duckdb)`);
  }
}

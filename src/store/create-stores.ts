import { SluiceError } from '../core/errors.js';
import { DuckDbSeriesStore, type DuckDbSeriesStoreOptions } from './duckdb/duckdb-series-store.js';
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

/** SeriesStore factory: one adapter per name; unknown names are a config error. */
export function createSeriesStore(kind: string, opts: DuckDbSeriesStoreOptions): SeriesStore {
  switch (kind) {
    case 'duckdb':
      return new DuckDbSeriesStore(opts);
    default:
      throw new SluiceError('config_invalid', `Unknown SeriesStore '${kind}' (available: duckdb)`);
  }
}

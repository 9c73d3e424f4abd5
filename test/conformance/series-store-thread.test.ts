import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { isSluiceError } from '../../src/core/errors.js';
import { ThreadedSeriesStore } from '../../src/store/worker/threaded-series-store.js';
import { readingRows, readingsBatch, readingsLayout } from './series-fixtures.js';
import { runSeriesStoreConformance } from './series-store.js';

/** The conformance suite decides when rows are folded into rollups (`flushRollups`), not a timer. */
const FLUSH_ON_REQUEST = { flushIntervalMs: 3_600_000, maxPendingRows: 1e12 };
const log = pino({ level: 'silent' });

function open(dir: string): ThreadedSeriesStore {
  return new ThreadedSeriesStore(
    {
      store: { path: path.join(dir, 'series.duckdb'), threads: 1, rollups: FLUSH_ON_REQUEST },
      logLevel: 'silent',
    },
    log,
  );
}

// The same DuckDB adapter behind the thread boundary: every call, answer and error crosses as a message.
runSeriesStoreConformance('duckdb (thread)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
  const store = open(dir);
  await store.init();
  return {
    store,
    cleanup: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('ThreadedSeriesStore', () => {
  it('ends a scan whose handler fails, keeps serving, and refuses calls once closed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
    const store = open(dir);
    try {
      await store.init();
      const layout = readingsLayout();
      await store.append(layout, readingsBatch(readingRows(50_000)));
      let chunks = 0;
      const failed = await store
        .scan(layout, () => {
          chunks++;
          throw new Error('handler failed');
        })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect((failed as Error).message).toBe('handler failed');
      expect(chunks).toBe(1);
      // The reader the scan held is free again.
      for (let i = 0; i < 4; i++) expect(await store.count(layout)).toBe(50_000);
      const bad = await store
        .series(layout, { keys: { nope: ['x'] }, agg: 'mean', limit: 1 })
        .catch((e: unknown) => e);
      expect(isSluiceError(bad) && bad.code).toBe('bad_query');
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const closed = await store.count(readingsLayout()).catch((e: unknown) => e);
    expect(isSluiceError(closed) && closed.code).toBe('store_unavailable');
  });
});

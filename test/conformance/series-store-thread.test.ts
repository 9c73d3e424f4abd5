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

function open(dir: string, testing?: { invalidateAtAppend: number }): ThreadedSeriesStore {
  return new ThreadedSeriesStore(
    {
      store: { path: path.join(dir, 'series.duckdb'), threads: 1, rollups: FLUSH_ON_REQUEST },
      logLevel: 'silent',
      testing,
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

  it('reopens the database after DuckDB invalidates it; a batch stored before the error counts once', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
    const store = open(dir, { invalidateAtAppend: 2 });
    try {
      await store.init();
      const layout = readingsLayout();
      await store.ensureDataset(layout);
      const first = readingsBatch(readingRows(1000), { id: 'b-1' });
      const second = readingsBatch(readingRows(500, 3, 5000), { id: 'b-2' });
      await store.append(layout, first);
      // Stored, then the simulated fatal error: the caller sees a retriable failure.
      const failed = await store.append(layout, second).catch((e: unknown) => e);
      expect(isSluiceError(failed) && failed.code).toBe('store_unavailable');
      // Calls fail as retriable while the thread reopens the file, then succeed.
      let count: number | undefined;
      for (let i = 0; i < 200 && count === undefined; i++) {
        count = await store.count(layout).catch((e: unknown) => {
          expect(isSluiceError(e) && e.code).toBe('store_unavailable');
          return undefined;
        });
        if (count === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      expect(count).toBe(1500);
      // The retry the log would make finds the batch applied and stores nothing twice.
      await store.append(layout, second);
      expect(await store.count(layout)).toBe(1500);
      expect(await store.isApplied('b-2')).toBe(true);
      // The reopened store fails no second time, and keeps the dataset's rollups.
      await store.append(layout, readingsBatch(readingRows(10, 3, 9000), { id: 'b-3' }));
      await store.append(layout, readingsBatch(readingRows(10, 3, 9100), { id: 'b-4' }));
      await store.flushRollups();
      expect(await store.count(layout)).toBe(1520);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BIGINT, DuckDBInstance, DuckDBTableFunction } from '@duckdb/node-api';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { datasetSchema, layoutOf } from '../../src/core/dataset.js';
import { isSluiceError } from '../../src/core/errors.js';
import { DuckDbSeriesStore } from '../../src/store/duckdb/duckdb-series-store.js';
import { readingRows, readingsBatch, readingsLayout } from './series-fixtures.js';
import { runSeriesStoreConformance } from './series-store.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
}

/** The conformance suite decides when rows are folded into rollups (`flushRollups`), not a timer. */
const FLUSH_ON_REQUEST = { flushIntervalMs: 3_600_000, maxPendingRows: 1e12 };

runSeriesStoreConformance('duckdb (file)', async () => {
  const dir = tempDir();
  const store = new DuckDbSeriesStore({
    path: path.join(dir, 'series.duckdb'),
    threads: 1,
    rollups: FLUSH_ON_REQUEST,
  });
  await store.init();
  return {
    store,
    cleanup: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('DuckDbSeriesStore', () => {
  let dir: string;
  const layout = readingsLayout();
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // The adapter's exactly-once guarantee rests on this engine behaviour: rows that an INSERT took
  // from a table function belong to the connection's open transaction and vanish with its rollback,
  // and a table function that throws part-way fails its statement rather than ending the scan early.
  it('relies on table-function inserts failing cleanly and rolling back with the transaction', async () => {
    const instance = await DuckDBInstance.create(path.join(dir, 'probe.duckdb'));
    const conn = await instance.connect();
    const other = await instance.connect();
    await conn.run('CREATE TABLE t (i BIGINT)');
    let calls = 0;
    let failAt = 0;
    conn.registerTableFunction(
      DuckDBTableFunction.create({
        name: 'probe_rows',
        bindFunction: (info) => info.addResultColumn('i', BIGINT),
        initFunction: (info) => info.setMaxThreads(1),
        mainFunction: (_info, output) => {
          calls++;
          if (calls === failAt) throw new Error('poisoned chunk');
          output.rowCount = calls > 3 ? 0 : 2048;
          for (let r = 0; r < output.rowCount; r++) output.getColumnVector(0).setItem(r, BigInt(calls));
          output.getColumnVector(0).flush();
        },
      }),
    );
    const count = async (c: typeof conn): Promise<number> =>
      Number((await c.runAndReadAll('SELECT count(*) FROM t')).getRows()[0]![0]);
    await conn.run('BEGIN TRANSACTION');
    await conn.run('INSERT INTO t SELECT * FROM probe_rows()');
    expect(await count(conn)).toBe(3 * 2048);
    expect(await count(other)).toBe(0);
    await conn.run('ROLLBACK');
    expect(await count(conn)).toBe(0);
    calls = 0;
    failAt = 3;
    await conn.run('BEGIN TRANSACTION');
    await expect(conn.run('INSERT INTO t SELECT * FROM probe_rows()')).rejects.toThrow(/poisoned chunk/);
    await conn.run('ROLLBACK').catch(() => undefined);
    expect(await count(conn)).toBe(0);
    conn.closeSync();
    other.closeSync();
    instance.closeSync();
  });

  it('works in memory', async () => {
    const store = new DuckDbSeriesStore({ path: ':memory:', threads: 1 });
    await store.init();
    await store.append(layout, readingsBatch(readingRows(10)));
    expect(await store.count(layout)).toBe(10);
    await store.close();
  });

  it("reports DuckDB's own memory account in the metrics, by tag", async () => {
    const metrics = new Registry();
    const store = new DuckDbSeriesStore({ path: ':memory:', threads: 1, metrics });
    await store.init();
    await store.append(layout, readingsBatch(readingRows(5000)));
    const text = await metrics.metrics();
    // An in-memory database keeps its rows under IN_MEMORY_TABLE (a file's are BASE_TABLE).
    const table = /^sluice_duckdb_memory_bytes\{tag="IN_MEMORY_TABLE"\} (\d+)$/m.exec(text);
    expect(table, text).not.toBeNull();
    expect(Number(table![1])).toBeGreaterThan(0);
    await store.close();
    // A closed store has nothing to report, and scraping it does not fail.
    expect(await metrics.metrics()).not.toMatch(/sluice_duckdb_memory_bytes\{/);
  });

  it('keeps data and applied batch ids across close and reopen', async () => {
    const file = path.join(dir, 'series.duckdb');
    const first = new DuckDbSeriesStore({ path: file, threads: 1 });
    await first.init();
    await first.append(layout, readingsBatch(readingRows(123)));
    await first.close();
    const second = new DuckDbSeriesStore({ path: file, threads: 1 });
    await second.init();
    expect(await second.count(layout)).toBe(123);
    expect(await second.isApplied('upload-1:0')).toBe(true);
    expect((await second.append(layout, readingsBatch(readingRows(123)))).applied).toBe(false);
    await second.close();
  });

  it('finds repeats of rows stored before a reopen, and of rows whose hashes left memory, in the file', async () => {
    const file = path.join(dir, 'series.duckdb');
    const first = new DuckDbSeriesStore({ path: file, threads: 1, dedupMemoryRows: 4096 });
    await first.init();
    const rows = readingRows(20_000);
    for (let b = 0; b < 4; b++)
      await first.append(layout, readingsBatch(rows.slice(b * 5000, (b + 1) * 5000), { seq: b }));
    // The first rows left memory long ago (4,096 hashes at most): found in the file.
    const early = await first.append(
      layout,
      readingsBatch([...rows.slice(0, 10), ...readingRows(5, 3, 90_000)], { seq: 9 }),
    );
    expect(early).toMatchObject({ inserted: 5, duplicate: 10 });
    await first.close();
    const second = new DuckDbSeriesStore({ path: file, threads: 1 });
    await second.init();
    try {
      const again = await second.append(
        layout,
        readingsBatch([...rows.slice(12_000, 12_020), ...readingRows(7, 3, 95_000)], { seq: 10 }),
      );
      expect(again).toMatchObject({ applied: true, inserted: 7, duplicate: 20 });
      expect(await second.count(layout)).toBe(20_012);
    } finally {
      await second.close();
    }
  });

  it('keeps an acknowledged append when the process is killed without closing', async () => {
    const file = path.join(dir, 'series.duckdb');
    const storeUrl = pathToFileURL(path.resolve('src/store/duckdb/duckdb-series-store.ts')).href;
    const fixturesUrl = pathToFileURL(path.resolve('test/conformance/series-fixtures.ts')).href;
    const script = `
      import { DuckDbSeriesStore } from ${JSON.stringify(storeUrl)};
      import { readingRows, readingsBatch, readingsLayout } from ${JSON.stringify(fixturesUrl)};
      const store = new DuckDbSeriesStore({ path: ${JSON.stringify(file)}, threads: 1 });
      await store.init();
      const r = await store.append(readingsLayout(), readingsBatch(readingRows(777)));
      process.stdout.write('appended ' + r.inserted + '\\n');
      setInterval(() => undefined, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      child.on('exit', (code) => reject(new Error(`child exited (${code}) before appending: ${stderr}`)));
    });
    expect(line).toBe('appended 777');
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const store = new DuckDbSeriesStore({ path: file, threads: 1 });
    await store.init();
    expect(await store.count(layout)).toBe(777);
    expect(await store.isApplied('upload-1:0')).toBe(true);
    await store.close();
  }, 30_000);

  it('yields to the event loop between chunks of a large append, and reads see only committed rows', async () => {
    const store = new DuckDbSeriesStore({ path: path.join(dir, 'series.duckdb'), threads: 1 });
    await store.init();
    await store.ensureDataset(layout);
    const batch = readingsBatch(readingRows(100_000));
    // A chain of setImmediate callbacks runs once per loop turn; the longest gap between two of them
    // is the longest the loop was held. One synchronous copy of the whole batch would take most of
    // the append's time, where 2048-row steps take a small share of it each.
    let appending = true;
    let last = performance.now();
    let longestGapMs = 0;
    let turns = 0;
    const tick = (): void => {
      const now = performance.now();
      longestGapMs = Math.max(longestGapMs, now - last);
      last = now;
      turns++;
      if (appending) setImmediate(tick);
    };
    setImmediate(tick);
    const countsSeen: number[] = [];
    const readWhileAppending = async (): Promise<void> => {
      while (appending) countsSeen.push(await store.count(layout));
    };
    const start = performance.now();
    const reads = readWhileAppending();
    const result = await store.append(layout, batch);
    const appendMs = performance.now() - start;
    appending = false;
    await reads;
    expect(result).toEqual({ applied: true, inserted: 100_000, duplicate: 0, seq: expect.any(Number) });
    expect(turns).toBeGreaterThan(100_000 / 2048);
    // Half the append: a stray GC pause or scheduler hiccup fits; one synchronous copy would not.
    expect(longestGapMs).toBeLessThan(appendMs / 2);
    expect(countsSeen.length).toBeGreaterThan(0);
    expect(new Set(countsSeen.filter((n) => n !== 100_000))).toEqual(new Set([0]));
    expect(await store.count(layout)).toBe(100_000);
    await store.close();
  });

  it('refuses a layout that no longer matches the stored table', async () => {
    const store = new DuckDbSeriesStore({ path: path.join(dir, 'series.duckdb'), threads: 1 });
    await store.init();
    await store.ensureDataset(layout);
    await store.ensureDataset(layout);
    const changed = layoutOf(
      datasetSchema.parse({
        ...layout.spec,
        columns: [...layout.spec.columns, { name: 'humidity', type: 'number', role: 'field' }],
      }),
    );
    const err: unknown = await store.ensureDataset(changed).catch((e: unknown) => e);
    expect(isSluiceError(err) && err.code).toBe('internal');
    expect(String(err)).toMatch(/humidity/);
    await store.close();
    // A fresh process sees the same mismatch: the check reads the table, not a cache.
    const again = new DuckDbSeriesStore({ path: path.join(dir, 'series.duckdb'), threads: 1 });
    await again.init();
    await expect(again.ensureDataset(changed)).rejects.toSatisfy(isSluiceError);
    await again.ensureDataset(layout);
    await again.close();
  });

  it('refuses column names that collide with the reserved ones', async () => {
    const columns = [
      { name: 'Time', type: 'string', role: 'key' },
      { name: 'v', type: 'number', role: 'field' },
    ];
    // The dataset schema refuses such names up front; the store checks again for specs built in code.
    expect(datasetSchema.safeParse({ name: 'clash', columns }).success).toBe(false);
    const store = new DuckDbSeriesStore({ path: ':memory:', threads: 1 });
    await store.init();
    const spec = datasetSchema.parse({ name: 'clash', columns: [{ ...columns[0], name: 'k' }, columns[1]] });
    const clash = layoutOf({ ...spec, columns: [{ ...spec.columns[0]!, name: 'Time' }, spec.columns[1]!] });
    await expect(store.ensureDataset(clash)).rejects.toThrow(/collides/);
    await store.close();
  });

  it('quotes identifiers, so odd but valid column names work', async () => {
    const store = new DuckDbSeriesStore({ path: ':memory:', threads: 1 });
    await store.init();
    const odd = layoutOf(
      datasetSchema.parse({
        name: 'odd',
        columns: [
          { name: 'select', type: 'string', role: 'key' },
          { name: 'from', type: 'number', role: 'field' },
        ],
      }),
    );
    const batch = {
      ...readingsBatch(readingRows(4), { dataset: 'odd' }),
      keys: [['a', 'b', 'a', 'b']],
      timeUs: null,
      fields: [Float64Array.of(1, 2, 3, 4)],
      payloads: [],
      attributes: [],
    };
    await store.append(odd, batch);
    expect(await store.latest(odd, { select: ['a'] })).toMatchObject({
      keys: ['a'],
      timeUs: null,
      fields: [3],
    });
    await store.close();
  });
});

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, it, expect, afterEach } from 'vitest';
import { isSluiceError } from '../../src/core/errors.js';
import { SqliteMetaStore } from '../../src/store/sqlite/sqlite-meta-store.js';
import { SCHEMA_VERSION } from '../../src/store/sqlite/sqlite-schema.js';
import { versionFile } from '../../src/store/sqlite/version-files.js';
import {
  apiKey,
  newUpload,
  promoBatch,
  promoRows,
  promotionsLayout,
  promotionsSpec,
  reject,
} from './fixtures.js';
import { runMetaStoreConformance } from './meta-store.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
}

runMetaStoreConformance('sqlite file', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'meta.db');
  let store = new SqliteMetaStore({ path: file });
  await store.init();
  return {
    store,
    cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
    reopen: async () => {
      await store.close();
      store = new SqliteMetaStore({ path: file });
      await store.init();
      return store;
    },
    // Version files go to records/ beside the database.
    versionStorageExists: (dataset, version) =>
      fs.existsSync(versionFile(path.join(dir, 'records'), dataset, version)),
  };
});

runMetaStoreConformance('sqlite :memory:', async () => {
  const recordsDir = tempDir();
  const store = new SqliteMetaStore({ path: ':memory:', recordsDir });
  await store.init();
  return {
    store,
    cleanup: async () => fs.rmSync(recordsDir, { recursive: true, force: true }),
    versionStorageExists: (dataset, version) => fs.existsSync(versionFile(recordsDir, dataset, version)),
  };
});

describe('SqliteMetaStore (SQLite-specific)', () => {
  const dirs: string[] = [];
  const stores: SqliteMetaStore[] = [];
  const layout = promotionsLayout();

  async function open(file: string): Promise<SqliteMetaStore> {
    const store = new SqliteMetaStore({ path: file });
    await store.init();
    stores.push(store);
    return store;
  }

  function dbFile(): string {
    const dir = tempDir();
    dirs.push(dir);
    return path.join(dir, 'nested', 'meta.db');
  }

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('opens in WAL mode with the current schema version', async () => {
    const file = dbFile();
    await open(file);
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    } finally {
      db.close();
    }
  });

  it('keeps its write-ahead log checkpointed from another thread', async () => {
    const file = dbFile();
    const store = await open(file);
    for (let i = 0; i < 2000; i++) await store.putDataset({ ...promotionsSpec(), name: `d${i % 50}` });
    const db = new Database(file);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const [result] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
      expect(result!.log).toBeGreaterThan(0);
      expect(result!.checkpointed).toBe(result!.log);
    } finally {
      db.close();
    }
  });

  it('refuses a database written by a newer schema', async () => {
    const file = dbFile();
    await (await open(file)).close();
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const store = new SqliteMetaStore({ path: file });
    const err = await store.init().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSluiceError(err) && err.code).toBe('internal');
  });

  it('fails with internal when used before init or after close', async () => {
    const store = new SqliteMetaStore({ path: ':memory:' });
    await expect(store.getUpload('x')).rejects.toMatchObject({ code: 'internal' });
    await store.init();
    await store.close();
    expect(() => store.getRecord(layout, ['x'])).toThrow(/not initialised/);
  });

  it('refuses to apply into a version that was never begun, and unsafe dataset names', async () => {
    const store = await open(':memory:');
    await expect(
      store.applyKeyedBatch(layout, 9, promoBatch({ source: 's', seq: 0, rows: promoRows(1) })),
    ).rejects.toMatchObject({ code: 'internal' });
    expect(await store.uploadCounts('s')).toMatchObject({ batches: 0 });
    await expect(store.publishVersion('promotions', 9)).rejects.toMatchObject({ code: 'internal' });
    await expect(store.listVersions('x"; DROP TABLE uploads; --')).rejects.toMatchObject({
      code: 'internal',
    });
  });

  it('keeps everything across close and reopen', async () => {
    const file = dbFile();
    let store = await open(file);
    await store.putDataset(promotionsSpec());
    await store.createUpload(
      newUpload({ id: 'u1', idempotencyKey: 'k1', dataset: 'promotions', version: 1 }),
    );
    await store.updateUpload('u1', { status: 'processing', committed: { offset: 77, line: 5 }, nextSeq: 1 });
    await store.createKey(apiKey({ id: 'k', datasets: ['promotions'] }));
    const version = await store.nextVersion('promotions');
    await store.beginVersion(layout, version);
    const batch = promoBatch({ source: 'u1', seq: 0, rows: promoRows(100), rejects: [reject(200)] });
    const { outcome } = await store.applyKeyedBatch(layout, version, batch);
    await store.recordBatch('u1', 0, outcome, batch.rejects);
    await store.publishVersion('promotions', version);
    const record = await store.getRecord(layout, ['p42']);
    await store.close();

    store = await open(file);
    expect((await store.listDatasets()).map((d) => d.spec)).toEqual([promotionsSpec()]);
    expect(await store.getUpload('u1')).toMatchObject({
      status: 'processing',
      committed: { offset: 77, line: 5 },
      nextSeq: 1,
      version: 1,
    });
    expect((await store.createUpload(newUpload({ id: 'u2', idempotencyKey: 'k1' }))).created).toBe(false);
    expect((await store.unfinishedUploads()).map((u) => u.id)).toEqual(['u1']);
    expect(await store.uploadCounts('u1')).toMatchObject({ total: 101, valid: 100, invalid: 1, batches: 1 });
    expect(await store.getKeyByHash(apiKey({ id: 'k' }).hash)).toMatchObject({ datasets: ['promotions'] });
    expect(await store.currentVersion('promotions')).toBe(version);
    expect(store.getRecord(layout, ['p42'])).toEqual(record);
    expect(await store.nextVersion('promotions')).toBe(version + 1);
    // the replay guard survives the reopen too
    const replay = await store.applyKeyedBatch(
      layout,
      version,
      promoBatch({ source: 'u1', seq: 0, rows: promoRows(3) }),
    );
    expect(replay.applied).toBe(false);
  });

  it('keeps committed transactions when the process is killed (kill -9)', () => {
    const file = dbFile();
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    const script = path.join(path.dirname(file), 'writer.mts');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const storeModule = path.join(root, 'src/store/sqlite/sqlite-meta-store.ts');
    fs.writeFileSync(
      script,
      `import { SqliteMetaStore } from ${JSON.stringify(storeModule)};
       const store = new SqliteMetaStore({ path: ${JSON.stringify(file)} });
       await store.init();
       for (let seq = 0; seq < 20; seq++) {
         await store.recordBatch('u', seq, { batchId: 'u:' + seq, total: 3, valid: 2, invalid: 1, duplicate: 0 },
           [{ line: seq + 2, reason: 'bad_time', column: 'timestamp', raw: 'x' }]);
       }
       process.kill(process.pid, 'SIGKILL');`,
    );
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: root, encoding: 'utf8' });
    expect(child.signal, child.stderr).toBe('SIGKILL');

    const db = new Database(file);
    try {
      const row = db
        .prepare('SELECT batches, total, invalid FROM upload_totals WHERE upload_id = ?')
        .get('u');
      expect(row).toEqual({ batches: 20, total: 60, invalid: 20 });
      expect(db.prepare('SELECT count(*) FROM rejects').pluck().get()).toBe(20);
    } finally {
      db.close();
    }
  });

  it('inserts 8192-row batches and answers 100k lookups on a 100k-row version quickly', async () => {
    const file = dbFile();
    const store = await open(file);
    const n = 100_000;
    const version = await store.nextVersion('promotions');
    await store.beginVersion(layout, version);
    const batchMs: number[] = [];
    for (let seq = 0, from = 0; from < n; seq++, from += 8192) {
      const batch = promoBatch({ source: 'bulk', seq, rows: promoRows(Math.min(8192, n - from), { from }) });
      const t0 = performance.now();
      const { outcome } = await store.applyKeyedBatch(layout, version, batch);
      batchMs.push(performance.now() - t0);
      expect(outcome.valid).toBe(batch.length);
    }
    await store.publishVersion('promotions', version);

    const keys: string[][] = [];
    for (let i = 0; i < n; i++) keys.push([`p${(i * 7919) % n}`]);
    let found = 0;
    const t0 = performance.now();
    for (const k of keys) if (store.getRecord(layout, k) !== undefined) found++;
    const elapsed = performance.now() - t0;

    // Anchor measured in the same run: a bare prepared statement on the same table, no adapter.
    const raw = new Database(versionFile(path.join(path.dirname(file), 'records'), 'promotions', version), {
      readonly: true,
    });
    raw.pragma('locking_mode = EXCLUSIVE');
    const stmt = raw.prepare(`SELECT * FROM records WHERE k = ?`).raw(true);
    let rawFound = 0;
    const r0 = performance.now();
    for (const k of keys) if (stmt.get(k[0]) !== undefined) rawFound++;
    const rawElapsed = performance.now() - r0;
    raw.close();

    const sorted = [...batchMs].sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        sqliteMetaStore: {
          lookupsPerSecond: Math.round((n / elapsed) * 1000),
          anchorBareStatementLookupsPerSecond: Math.round((n / rawElapsed) * 1000),
          ratioToAnchor: Number((rawElapsed / elapsed).toFixed(2)),
          insertBatchMsMedian: Number(sorted[Math.floor(sorted.length / 2)].toFixed(1)),
          rowsPerBatch: 8192,
        },
      }),
    );
    expect(found).toBe(n);
    expect(rawFound).toBe(n);
    expect(elapsed).toBeLessThan(5000);
  });
});

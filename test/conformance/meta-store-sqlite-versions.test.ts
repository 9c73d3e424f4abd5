import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteMetaStore } from '../../src/store/sqlite/sqlite-meta-store.js';
import { versionFile } from '../../src/store/sqlite/version-files.js';
import { newUpload, promoBatch, promoRows, promotionsLayout } from './fixtures.js';

/**
 * The SQLite adapter's version files: one file per replace-mode version under `records/`, written on
 * the version-build thread. Kill -9 in the middle of a build, and data dirs from before version files.
 */
const layout = promotionsLayout();
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dirs: string[] = [];
const stores: SqliteMetaStore[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-versions-'));
  dirs.push(dir);
  return dir;
}

async function open(file: string): Promise<SqliteMetaStore> {
  const store = new SqliteMetaStore({ path: file });
  await store.init();
  stores.push(store);
  return store;
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('SqliteMetaStore version files', () => {
  it('writes each version to its own file on another thread, and deletes the file when dropped', async () => {
    const dir = tempDir();
    const store = await open(path.join(dir, 'meta.sqlite'));
    await store.beginVersion(layout, 1);
    const file = versionFile(path.join(dir, 'records'), 'promotions', 1);
    expect(fs.existsSync(file)).toBe(true);
    await store.applyKeyedBatch(layout, 1, promoBatch({ source: 'a', seq: 0, rows: promoRows(20_000) }));
    // The rows are in the version's file, not in meta.sqlite.
    const raw = new Database(file, { readonly: true });
    try {
      expect(raw.prepare('SELECT count(*) FROM records').pluck().get()).toBe(20_000);
      expect(raw.prepare('SELECT batch_id, valid FROM applied_batches').all()).toEqual([
        { batch_id: 'a:0', valid: 20_000 },
      ]);
    } finally {
      raw.close();
    }
    await store.publishVersion('promotions', 1);
    await store.dropVersion('promotions', 1);
    expect(fs.readdirSync(path.join(dir, 'records'))).toEqual([]);
  });

  it('keeps every batch committed before a kill -9 mid-build, once, and resumes into the same file', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'meta.sqlite');
    const script = path.join(dir, 'builder.mts');
    const storeModule = path.join(root, 'src/store/sqlite/sqlite-meta-store.ts');
    const fixtures = path.join(root, 'test/conformance/fixtures.ts');
    const records = path.join(dir, 'records');
    const journal = `${versionFile(records, 'promotions', 1)}-journal`;
    const marker = path.join(dir, 'killed-mid-transaction');
    // Five batches of 20,000 rows are awaited; a sixth is sent, and the process killed while the build
    // thread is inside its transaction (its rollback journal exists only then).
    fs.writeFileSync(
      script,
      `import { SqliteMetaStore } from ${JSON.stringify(storeModule)};
       import { promoBatch, promoRows, promotionsLayout } from ${JSON.stringify(fixtures)};
       const store = new SqliteMetaStore({ path: ${JSON.stringify(file)} });
       await store.init();
       const layout = promotionsLayout();
       await store.beginVersion(layout, 1);
       for (let seq = 0; seq < 5; seq++)
         await store.applyKeyedBatch(layout, 1, promoBatch({ source: 'u', seq, rows: promoRows(20_000, { from: seq * 15_000 }) }));
       void store.applyKeyedBatch(layout, 1, promoBatch({ source: 'u', seq: 5, rows: promoRows(200_000, { from: 75_000 }) }));
       setInterval(() => {
         if (!fs.existsSync(${JSON.stringify(journal)})) return;
         fs.writeFileSync(${JSON.stringify(marker)}, '');
         process.kill(process.pid, 'SIGKILL');
       }, 1);`,
    );
    fs.writeFileSync(script, `import fs from 'node:fs';\n${fs.readFileSync(script, 'utf8')}`);
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: root, encoding: 'utf8' });
    expect(child.signal, child.stderr).toBe('SIGKILL');
    expect(fs.existsSync(marker)).toBe(true);
    // A hot journal: the sixth batch was cut half-written, and reopening rolls it back.
    expect(fs.existsSync(journal)).toBe(true);

    const store = await open(file);
    let valid = 0;
    for (let seq = 0; seq < 5; seq++) {
      const replay = promoBatch({ source: 'u', seq, rows: promoRows(10, { price: -1 }) });
      const { applied, outcome } = await store.applyKeyedBatch(layout, 1, replay);
      expect(applied).toBe(false);
      // Batches overlap by 5,000 keys: the first keeps all 20,000, the others 15,000 each.
      expect(outcome).toMatchObject({ total: 20_000, valid: seq === 0 ? 20_000 : 15_000 });
      valid += outcome.valid;
    }
    const last = await store.applyKeyedBatch(
      layout,
      1,
      promoBatch({ source: 'u', seq: 5, rows: promoRows(200_000, { from: 75_000 }) }),
    );
    // Rolled back at the reopen, so applied now; its first 5,000 keys were already stored.
    expect(last).toMatchObject({ applied: true, outcome: { valid: 195_000, duplicate: 5_000 } });
    expect(fs.existsSync(journal)).toBe(false);
    valid += last.outcome.valid;
    await store.publishVersion('promotions', 1);
    let stored = 0;
    await store.scanRecords(layout, 1, (records) => (stored += records.length));
    expect(stored).toBe(valid);
    expect(store.getRecord(layout, ['p3'])?.fields[0]).toBe(3.25);
  });

  it('moves the version tables of an older data dir into version files and resumes their builds', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'meta.sqlite');
    const first = await open(file);
    await first.createUpload(newUpload({ id: 'u4', dataset: 'promotions', version: 4 }));
    await first.close();
    // What the previous layout left: the published v3 and a half-built v4 as tables, v4's applied
    // batch recorded in meta.sqlite.
    const db = new Database(file);
    const columns = `(k TEXT PRIMARY KEY NOT NULL, time_us INTEGER, time_text TEXT, f0 REAL, f1 REAL, p0 TEXT,
      a0 TEXT, line INTEGER NOT NULL) WITHOUT ROWID`;
    db.exec(`CREATE TABLE rec_promotions_v3 ${columns}; CREATE TABLE rec_promotions_v4 ${columns}`);
    const insert = (table: string, n: number, price: number) => {
      const stmt = db.prepare(`INSERT INTO ${table} VALUES (?, NULL, '', ?, NULL, NULL, 'EUR', ?)`);
      db.transaction(() => {
        for (let i = 0; i < n; i++) stmt.run(`p${i}`, price + i, i + 2);
      })();
    };
    insert('rec_promotions_v3', 50_000, 3);
    insert('rec_promotions_v4', 10, 4);
    db.exec(`INSERT INTO dataset_versions VALUES ('promotions', 3);
      INSERT INTO version_counters VALUES ('promotions', 4);
      INSERT INTO applied_batches VALUES ('u4:0', 'u4', 0, 10, 10, 0, 0);`);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const before = fs.statSync(file).size;

    const store = await open(file);
    // The tables' pages went back to the disk at start, not at some later checkpoint.
    expect(fs.statSync(file).size).toBeLessThan(before / 2);
    const records = path.join(dir, 'records');
    expect(fs.readdirSync(path.join(records, 'promotions')).sort()).toEqual(['v3.sqlite', 'v4.sqlite']);
    expect(await store.listVersions('promotions')).toEqual([3, 4]);
    expect(await store.currentVersion('promotions')).toBe(3);
    expect(store.getRecord(layout, ['p7'])).toMatchObject({
      fields: [10, null],
      attributes: ['EUR'],
      line: 9,
    });
    // The half-built version resumes exactly once: its applied batch is known to its file.
    const replay = await store.applyKeyedBatch(
      layout,
      4,
      promoBatch({ source: 'u4', seq: 0, rows: promoRows(3) }),
    );
    expect(replay).toEqual({
      applied: false,
      outcome: { batchId: 'u4:0', total: 10, valid: 10, invalid: 0, duplicate: 0 },
    });
    const next = await store.applyKeyedBatch(
      layout,
      4,
      promoBatch({ source: 'u4', seq: 1, rows: promoRows(20, { price: 9 }) }),
    );
    expect(next.outcome).toMatchObject({ valid: 10, duplicate: 10 });
    expect(await store.nextVersion('promotions')).toBe(5);
    await store.close();
    // The tables are gone.
    const after = new Database(file, { readonly: true });
    try {
      expect(after.prepare(`SELECT name FROM sqlite_master WHERE name LIKE 'rec_%'`).pluck().all()).toEqual(
        [],
      );
    } finally {
      after.close();
    }
  });
});

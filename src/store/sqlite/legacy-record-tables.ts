import fs from 'node:fs';
import path from 'node:path';
import { columnList, shapeOfTable } from './record-columns.js';
import type { SqliteDatabase } from './sqlite-schema.js';
import { openVersionWriter, versionFile } from './version-files.js';

/**
 * Data dirs written before versions had files of their own keep each version as a table
 * `rec_<dataset>_v<version>` inside meta.sqlite. At start, each such table is copied into its version
 * file, then dropped, and meta.sqlite is vacuumed once so the space of the dropped tables goes back
 * to the disk. Batch ids already applied to a version (a build under way at the upgrade) move with
 * it, so that build resumes exactly once.
 *
 * Crash-safe at every step: the copy is written to a temporary name and renamed only once complete and
 * synced, and a table whose file exists is only dropped. One code path then reads every version.
 */
const LEGACY_TABLE = /^rec_([a-z][a-z0-9_]*)_v(\d+)$/;
const TEMP_SUFFIX = '.migrating';

export function migrateLegacyRecordTables(db: SqliteDatabase, recordsDir: string): string[] {
  const tables = db
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 4) = 'rec_'`)
    .pluck()
    .all() as string[];
  const moved: string[] = [];
  for (const table of tables) {
    // Greedy: the version is the last `_v<digits>`, so a dataset named `a_v1` is not misread.
    const m = LEGACY_TABLE.exec(table);
    if (!m) continue;
    const [, dataset, version] = m;
    const file = versionFile(recordsDir, dataset, Number(version));
    if (!fs.existsSync(file)) copyToFile(db, table, dataset, Number(version), file);
    db.exec(`DROP TABLE "${table}"`);
    moved.push(table);
  }
  if (moved.length > 0) {
    db.exec('VACUUM');
    // In WAL mode the vacuumed pages sit in the WAL; the file shrinks only once they are checkpointed.
    db.pragma('wal_checkpoint(TRUNCATE)');
  }
  return moved;
}

function copyToFile(db: SqliteDatabase, table: string, dataset: string, version: number, file: string): void {
  const shape = shapeOfTable(db, table);
  if (shape === undefined) return;
  const temp = file + TEMP_SUFFIX;
  for (const f of [temp, `${temp}-journal`]) fs.rmSync(f, { force: true });
  openVersionWriter(temp, shape).close();
  db.prepare(`ATTACH DATABASE ? AS migrating`).run(temp);
  try {
    db.transaction(() => {
      const cols = columnList(shape);
      db.exec(`INSERT INTO migrating.records (${cols}) SELECT ${cols} FROM main."${table}"`);
      db.prepare(
        `INSERT OR IGNORE INTO migrating.applied_batches (batch_id, upload_id, seq, total, valid, invalid, duplicate)
         SELECT a.batch_id, a.upload_id, a.seq, a.total, a.valid, a.invalid, a.duplicate
         FROM main.applied_batches a JOIN main.uploads u ON u.id = a.upload_id
         WHERE u.dataset = ? AND u.version = ?`,
      ).run(dataset, version);
    }).immediate();
  } finally {
    db.exec(`DETACH DATABASE migrating`);
  }
  const fd = fs.openSync(temp, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
  const dir = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SluiceError } from '../../core/errors.js';
import { assertDatasetName, assertVersion, recordsTableBody, type RecordShape } from './record-columns.js';
import type { SqliteDatabase } from './sqlite-schema.js';

/**
 * Replace-mode versions on disk: one SQLite database per (dataset, version),
 * `<records dir>/<dataset>/v<version>.sqlite`, holding the version's `records` and the ids of the
 * batches applied to it (`applied_batches`, written in the same transaction as the rows).
 *
 * A version is written by one connection on the version-build thread and, once sealed, read by one
 * connection on the main thread. Deleting the file gives its space back to the disk at once.
 */
const VERSION_FILE = /^v(\d+)\.sqlite$/;
/** Companion files SQLite may leave beside a database; removed before the database itself. */
const COMPANIONS = ['-journal', '-wal', '-shm'];
/** Marks the file format of a version database (`PRAGMA user_version`). */
export const VERSION_FORMAT = 1;

export function datasetDir(recordsDir: string, dataset: string): string {
  assertDatasetName(dataset);
  return path.join(recordsDir, dataset);
}

export function versionFile(recordsDir: string, dataset: string, version: number): string {
  assertVersion(version);
  return path.join(datasetDir(recordsDir, dataset), `v${version}.sqlite`);
}

/** Versions of a dataset that have a file, ascending. */
export function listVersionFiles(recordsDir: string, dataset: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(datasetDir(recordsDir, dataset));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: number[] = [];
  for (const name of names) {
    const m = VERSION_FILE.exec(name);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

/**
 * Deletes a version database and its companions. The journal goes first and the database last, so a
 * crash part-way leaves the database listed, and the next start's sweep deletes it again.
 */
export function removeVersionFiles(file: string): void {
  for (const suffix of COMPANIONS) fs.rmSync(file + suffix, { force: true });
  fs.rmSync(file, { force: true });
  try {
    fs.rmdirSync(path.dirname(file));
  } catch {
    // Not empty (other versions of the dataset), or already gone.
  }
}

/**
 * Opens a version for writing, creating it (and its tables) when `shape` is given; without a shape the
 * version must exist already. Rollback journal rather than WAL: a version is written once, then only
 * read, and a sealed rollback-mode file can be read by a read-only connection that holds its lock for
 * good (see `openVersionReader`). synchronous=NORMAL syncs at each commit's critical points, so a
 * committed batch survives a process crash and, all but certainly, a power loss.
 */
export function openVersionWriter(file: string, shape?: RecordShape): SqliteDatabase {
  if (shape) fs.mkdirSync(path.dirname(file), { recursive: true });
  else if (!fs.existsSync(file))
    throw new SluiceError('internal', `version storage ${path.basename(file)} does not exist (never begun)`);
  const db = new Database(file, { fileMustExist: shape === undefined });
  try {
    db.pragma('journal_mode = DELETE');
    db.pragma('synchronous = NORMAL');
    // 64 MiB of page cache keeps the B-tree's inner pages hot while rows arrive in random key order.
    db.pragma('cache_size = -65536');
    db.pragma('temp_store = MEMORY');
    if (shape) {
      db.transaction(() => {
        db.exec(`CREATE TABLE IF NOT EXISTS records ${recordsTableBody(shape)}`);
        db.exec(`CREATE TABLE IF NOT EXISTS applied_batches (
          batch_id TEXT PRIMARY KEY NOT NULL,
          upload_id TEXT NOT NULL,
          seq INTEGER NOT NULL,
          total INTEGER NOT NULL,
          valid INTEGER NOT NULL,
          invalid INTEGER NOT NULL,
          duplicate INTEGER NOT NULL
        ) WITHOUT ROWID`);
        db.pragma(`user_version = ${VERSION_FORMAT}`);
      }).immediate();
    }
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/**
 * Opens a version for reading on the main thread. `sealed` versions are no longer written, so the
 * connection takes its shared lock once and keeps it (locking_mode EXCLUSIVE on a read-only
 * connection): a lookup then costs no lock or change-counter system calls, about twice the lookups per
 * second of a connection that re-checks the file before each statement (measured on 2M rows).
 */
export function openVersionReader(file: string, opts: { sealed: boolean }): SqliteDatabase {
  if (!fs.existsSync(file))
    throw new SluiceError('internal', `version storage ${path.basename(file)} does not exist`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    if (opts.sealed) db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('cache_size = -65536');
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

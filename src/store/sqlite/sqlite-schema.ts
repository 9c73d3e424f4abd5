import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SluiceError } from '../../core/errors.js';

export type SqliteDatabase = Database.Database;
export type SqliteStatement = Database.Statement<unknown[]>;

/**
 * Schema migrations, applied in order. `PRAGMA user_version` holds how many have run, so a later
 * change appends a function here and never edits an earlier one.
 *
 * Replace-mode records live in files of their own (version-files.ts); meta.sqlite keeps only each
 * dataset's current version and version counter. Older data dirs kept them here, in tables
 * `rec_<dataset>_v<version>` moved out at start (legacy-record-tables.ts), with the ids in
 * `applied_batches`, which nothing writes any more.
 */
const MIGRATIONS: readonly ((db: SqliteDatabase) => void)[] = [
  (db) => {
    db.exec(`
      CREATE TABLE datasets (
        name TEXT PRIMARY KEY NOT NULL,
        spec TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- seq gives a stable creation order for "newest first" listings and pagination; it is an
      -- INTEGER PRIMARY KEY so VACUUM never renumbers it.
      CREATE TABLE uploads (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        dataset TEXT NOT NULL,
        client TEXT NOT NULL,
        status TEXT NOT NULL,
        format TEXT NOT NULL,
        content_type TEXT NOT NULL,
        filename TEXT,
        idempotency_key TEXT,
        bytes_received INTEGER NOT NULL DEFAULT 0,
        receive_complete INTEGER NOT NULL DEFAULT 0,
        committed_offset INTEGER NOT NULL DEFAULT 0,
        committed_line INTEGER NOT NULL DEFAULT 0,
        next_seq INTEGER NOT NULL DEFAULT 0,
        batch_count INTEGER,
        version INTEGER,
        error TEXT,
        created_at INTEGER NOT NULL,
        received_at INTEGER,
        started_at INTEGER,
        finished_at INTEGER
      );
      -- NULL keys are distinct in a SQLite unique index, so uploads without a key never collide.
      CREATE UNIQUE INDEX uploads_idempotency ON uploads (client, idempotency_key);
      CREATE INDEX uploads_dataset ON uploads (dataset, seq);
      CREATE INDEX uploads_client ON uploads (client, seq);
      CREATE INDEX uploads_status ON uploads (status, seq);

      -- One row per recorded batch: the idempotency guard of recordBatch.
      CREATE TABLE upload_batches (
        upload_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        batch_id TEXT NOT NULL,
        total INTEGER NOT NULL,
        valid INTEGER NOT NULL,
        invalid INTEGER NOT NULL,
        duplicate INTEGER NOT NULL,
        PRIMARY KEY (upload_id, seq)
      ) WITHOUT ROWID;

      -- Running sums, updated in the same transaction as a new batch row, so an upload report is a
      -- single-row read however many batches the upload has.
      CREATE TABLE upload_totals (
        upload_id TEXT PRIMARY KEY NOT NULL,
        batches INTEGER NOT NULL,
        total INTEGER NOT NULL,
        valid INTEGER NOT NULL,
        invalid INTEGER NOT NULL,
        duplicate INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE upload_reject_reasons (
        upload_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (upload_id, reason)
      ) WITHOUT ROWID;

      CREATE TABLE rejects (
        upload_id TEXT NOT NULL,
        line INTEGER NOT NULL,
        reason TEXT NOT NULL,
        col TEXT,
        raw TEXT NOT NULL
      );
      CREATE INDEX rejects_by_line ON rejects (upload_id, line);

      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        datasets TEXT,
        hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );

      -- Batches applied to replace-mode versions, recorded with the rows they wrote.
      CREATE TABLE applied_batches (
        batch_id TEXT PRIMARY KEY NOT NULL,
        upload_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        total INTEGER NOT NULL,
        valid INTEGER NOT NULL,
        invalid INTEGER NOT NULL,
        duplicate INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE dataset_versions (
        dataset TEXT PRIMARY KEY NOT NULL,
        current INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE version_counters (
        dataset TEXT PRIMARY KEY NOT NULL,
        last INTEGER NOT NULL
      ) WITHOUT ROWID;
    `);
  },
  // Resumable (tus) uploads: how the body arrives, and the declared length (null until known).
  (db) => {
    db.exec(`
      ALTER TABLE uploads ADD COLUMN protocol TEXT NOT NULL DEFAULT 'http';
      ALTER TABLE uploads ADD COLUMN upload_length INTEGER;
      `);
  },
  // Pull connectors: config (credentials sealed apart), pause flag, durable cursor state and health.
  (db) => {
    db.exec(`
      CREATE TABLE connectors (
        id TEXT PRIMARY KEY NOT NULL,
        origin TEXT NOT NULL,
        config TEXT NOT NULL,
        credentials TEXT,
        paused INTEGER NOT NULL DEFAULT 0,
        state TEXT,
        health TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
    `);
  },
  // Alerting and data-quality state (src/alerts, src/quality).
  (db) => {
    db.exec(`
      CREATE TABLE alert_rules (
        id TEXT PRIMARY KEY NOT NULL,
        spec TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE alert_channels (
        id TEXT PRIMARY KEY NOT NULL,
        spec TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE channel_status (
        channel TEXT PRIMARY KEY NOT NULL,
        sent INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        last_ok_at INTEGER,
        last_error_at INTEGER,
        last_error TEXT
      ) WITHOUT ROWID;

      CREATE TABLE alerts (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        fingerprint TEXT NOT NULL,
        rule_id TEXT,
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        group_key TEXT NOT NULL,
        state TEXT NOT NULL,
        severity TEXT NOT NULL,
        description TEXT NOT NULL,
        labels TEXT NOT NULL,
        value REAL,
        started_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        resolved_at INTEGER,
        acked_at INTEGER,
        acked_by TEXT,
        occurrences INTEGER NOT NULL
      );
      -- Dedup: at most one firing alert per fingerprint.
      CREATE UNIQUE INDEX alerts_firing ON alerts (fingerprint) WHERE state = 'firing';
      CREATE INDEX alerts_state ON alerts (state, seq);

      CREATE TABLE silences (
        id TEXT PRIMARY KEY NOT NULL,
        matchers TEXT NOT NULL,
        starts_at INTEGER NOT NULL,
        ends_at INTEGER NOT NULL,
        comment TEXT NOT NULL,
        created_by TEXT,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE alert_rule_state (
        rule_id TEXT NOT NULL,
        group_key TEXT NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (rule_id, group_key)
      ) WITHOUT ROWID;

      -- Row outcomes per dataset, client and minute.
      CREATE TABLE quality_counts (
        dataset TEXT NOT NULL,
        client TEXT NOT NULL,
        bucket_ms INTEGER NOT NULL,
        total INTEGER NOT NULL,
        valid INTEGER NOT NULL,
        invalid INTEGER NOT NULL,
        duplicate INTEGER NOT NULL,
        PRIMARY KEY (dataset, client, bucket_ms)
      ) WITHOUT ROWID;
      CREATE INDEX quality_counts_time ON quality_counts (bucket_ms);

      -- Reject reasons per dataset, client and minute, with up to a few example lines (JSON).
      CREATE TABLE quality_reasons (
        dataset TEXT NOT NULL,
        client TEXT NOT NULL,
        bucket_ms INTEGER NOT NULL,
        reason TEXT NOT NULL,
        n INTEGER NOT NULL,
        examples TEXT NOT NULL,
        PRIMARY KEY (dataset, client, bucket_ms, reason)
      ) WITHOUT ROWID;
      CREATE INDEX quality_reasons_time ON quality_reasons (bucket_ms);
    `);
  },
  (db) => {
    // Background jobs (aggregations): the request and result are JSON text.
    db.exec(`
      CREATE TABLE jobs (
        id TEXT PRIMARY KEY NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        client TEXT,
        input TEXT NOT NULL,
        result TEXT,
        error TEXT,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER
      );
      CREATE INDEX jobs_unfinished ON jobs (kind, status, created_at);
    `);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Opens (creating if needed) a MetaStore database and brings its schema up to date. */
export function openMetaDatabase(file: string): SqliteDatabase {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let db: SqliteDatabase;
  try {
    db = new Database(file);
  } catch (e) {
    throw new SluiceError('store_unavailable', `cannot open the SQLite database: ${String(e)}`, { cause: e });
  }
  try {
    // WAL lets readers run while a batch is being written. With WAL, synchronous=NORMAL writes each
    // commit to the WAL file before returning but skips the fsync on commit: a committed transaction
    // is in the OS page cache, so it survives a crash of this process (kill -9). Only an OS crash or
    // power loss can lose the last few commits, and even then the database stays consistent.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Another process holding the write lock (a CLI command, a backup) makes us wait, not fail.
    db.pragma('busy_timeout = 5000');
    // 64 MiB of page cache: keeps upper B-tree levels of large record tables hot for lookups.
    db.pragma('cache_size = -65536');
    db.pragma('temp_store = MEMORY');
    migrate(db);
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

function migrate(db: SqliteDatabase): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new SluiceError(
      'internal',
      `the MetaStore schema is version ${current}, newer than this build knows (${MIGRATIONS.length})`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      MIGRATIONS[v](db);
      // PRAGMA does not take bound parameters; v is a loop integer.
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BatchOutcome, ColumnarBatch, Reject } from '../../core/batch.js';
import type { DatasetLayout, DatasetSpec } from '../../core/dataset.js';
import { SluiceError } from '../../core/errors.js';
import type {
  JobPatch,
  JobRow,
  NewJob,
  ApiKeyRow,
  ConnectorRow,
  KeyedApplyOutcome,
  KeyedRecord,
  MetaStore,
  NewConnectorRow,
  NewUpload,
  StoredDataset,
  UploadCounts,
  UploadFilter,
  UploadPatch,
  UploadRow,
} from '../meta-store.js';
import { guarded, guardedAsync } from './sqlite-errors.js';
import { SqliteJobs } from './sqlite-jobs.js';
import { SqliteConnectors } from './sqlite-connectors.js';
import { migrateLegacyRecordTables } from './legacy-record-tables.js';
import { SqliteRecords } from './sqlite-records.js';
import { openMetaDatabase, type SqliteDatabase, type SqliteStatement } from './sqlite-schema.js';
import { SqliteUploads } from './sqlite-uploads.js';
import { SqliteAlerts } from './sqlite-alerts.js';
import { SqliteQuality } from './sqlite-quality.js';
import { VersionBuildClient } from './version-build-client.js';
import { BACKSTOP_WAL_PAGES, WalCheckpointer } from './wal-checkpointer.js';

type Statement = SqliteStatement;

interface KeyRecord {
  id: string;
  name: string;
  role: ApiKeyRow['role'];
  datasets: string | null;
  hash: string;
  prefix: string;
  created_at: number;
}

function toKey(r: KeyRecord): ApiKeyRow {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    datasets: r.datasets === null ? null : (JSON.parse(r.datasets) as string[]),
    hash: r.hash,
    prefix: r.prefix,
    createdAt: r.created_at,
  };
}

/** Everything that exists only while the database is open. */
class OpenStore {
  readonly uploads: SqliteUploads;
  readonly records: SqliteRecords;
  readonly jobs: SqliteJobs;
  readonly connectors: SqliteConnectors;
  readonly putDataset: Statement;
  readonly listDatasets: Statement;
  readonly deleteDataset: Statement;
  readonly insertKey: Statement;
  readonly keyByHash: Statement;
  readonly listKeys: Statement;
  readonly deleteKey: Statement;

  constructor(
    readonly db: SqliteDatabase,
    readonly builder: VersionBuildClient,
    recordsDir: string,
  ) {
    this.uploads = new SqliteUploads(db);
    this.records = new SqliteRecords(db, recordsDir, builder);
    this.jobs = new SqliteJobs(db);
    this.connectors = new SqliteConnectors(db);
    this.putDataset = db.prepare(
      `INSERT INTO datasets (name, spec, created_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET spec = excluded.spec`,
    );
    this.listDatasets = db.prepare(`SELECT spec, created_at FROM datasets ORDER BY name`);
    this.deleteDataset = db.prepare(`DELETE FROM datasets WHERE name = ?`);
    this.insertKey = db.prepare(
      `INSERT INTO api_keys (id, name, role, datasets, hash, prefix, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const keyColumns = 'id, name, role, datasets, hash, prefix, created_at';
    this.keyByHash = db.prepare(`SELECT ${keyColumns} FROM api_keys WHERE hash = ?`);
    this.listKeys = db.prepare(`SELECT ${keyColumns} FROM api_keys ORDER BY created_at, id`);
    this.deleteKey = db.prepare(`DELETE FROM api_keys WHERE id = ?`);
  }
}

export interface SqliteMetaStoreOptions {
  /** The meta.sqlite file, or `:memory:`. */
  path: string;
  /**
   * Where replace-mode version files go; defaults to `records/` beside `path`. A `:memory:` store
   * without one uses a temporary directory, removed at close.
   */
  recordsDir?: string;
}

/**
 * The embedded MetaStore: one SQLite file (better-sqlite3, synchronous), plus one SQLite file per
 * replace-mode version, built on a thread of its own. Port methods are async for the sake of
 * networked adapters; most do their work at once and return a settled promise. Version writes await
 * the build thread. `getRecord` returns its value directly to keep lookups on the fast path.
 */
export class SqliteMetaStore implements MetaStore {
  readonly kind = 'sqlite';
  private open: OpenStore | undefined;
  private checkpointer: WalCheckpointer | undefined;
  /** A temporary records dir of a `:memory:` store, removed at close. */
  private tempRecordsDir: string | undefined;
  readonly alerts = new SqliteAlerts(() => this.store().db);
  readonly quality = new SqliteQuality(() => this.store().db);

  constructor(private readonly opts: SqliteMetaStoreOptions) {}

  async init(): Promise<void> {
    if (this.open !== undefined) return;
    const memory = this.opts.path === ':memory:';
    let recordsDir = this.opts.recordsDir;
    if (recordsDir === undefined && memory)
      recordsDir = this.tempRecordsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-records-'));
    recordsDir ??= path.join(path.dirname(path.resolve(this.opts.path)), 'records');
    const db = guarded(() => openMetaDatabase(this.opts.path));
    try {
      guarded(() => migrateLegacyRecordTables(db, recordsDir));
    } catch (e) {
      db.close();
      throw e;
    }
    this.open = new OpenStore(db, new VersionBuildClient(), recordsDir);
    if (!memory) {
      // Checkpoints run on their own thread; the writer's own is only a backstop for a large WAL.
      db.pragma(`wal_autocheckpoint = ${BACKSTOP_WAL_PAGES}`);
      this.checkpointer = new WalCheckpointer(this.opts.path);
    }
  }

  async close(): Promise<void> {
    const open = this.open;
    if (open === undefined) return;
    this.open = undefined;
    open.records.clear();
    try {
      await this.checkpointer?.stop();
      this.checkpointer = undefined;
      await open.builder.close();
    } finally {
      open.db.close();
      if (this.tempRecordsDir !== undefined) fs.rmSync(this.tempRecordsDir, { recursive: true, force: true });
      this.tempRecordsDir = undefined;
    }
  }

  // datasets

  async putDataset(spec: DatasetSpec): Promise<void> {
    const s = this.store();
    guarded(() => s.putDataset.run(spec.name, JSON.stringify(spec), Date.now()));
  }

  async listDatasets(): Promise<StoredDataset[]> {
    const rows = guarded(() => this.store().listDatasets.all()) as { spec: string; created_at: number }[];
    return rows.map((r) => ({ spec: JSON.parse(r.spec) as DatasetSpec, createdAt: r.created_at }));
  }

  async deleteDataset(name: string): Promise<boolean> {
    return guarded(() => this.store().deleteDataset.run(name).changes > 0);
  }

  // uploads

  async createUpload(row: NewUpload): Promise<{ upload: UploadRow; created: boolean }> {
    const s = this.store();
    return guarded(() => s.uploads.create(row, Date.now()));
  }

  async getUpload(id: string): Promise<UploadRow | undefined> {
    return guarded(() => this.store().uploads.get(id));
  }

  async listUploads(filter: UploadFilter): Promise<UploadRow[]> {
    return guarded(() => this.store().uploads.list(filter));
  }

  async updateUpload(id: string, patch: UploadPatch): Promise<void> {
    guarded(() => this.store().uploads.update(id, patch));
  }

  async unfinishedUploads(): Promise<UploadRow[]> {
    return guarded(() => this.store().uploads.unfinished());
  }

  async recordBatch(
    uploadId: string,
    seq: number,
    outcome: BatchOutcome,
    rejects: readonly Reject[],
  ): Promise<boolean> {
    return guarded(() => this.store().uploads.recordBatch(uploadId, seq, outcome, rejects));
  }

  async uploadCounts(uploadId: string): Promise<UploadCounts> {
    return guarded(() => this.store().uploads.counts(uploadId));
  }

  async listRejects(uploadId: string, opts: { afterLine?: number; limit: number }): Promise<Reject[]> {
    return guarded(() => this.store().uploads.rejects(uploadId, opts));
  }

  // API keys

  async createKey(row: ApiKeyRow): Promise<void> {
    const s = this.store();
    guarded(() =>
      s.insertKey.run(
        row.id,
        row.name,
        row.role,
        row.datasets === null ? null : JSON.stringify(row.datasets),
        row.hash,
        row.prefix,
        row.createdAt,
      ),
    );
  }

  async getKeyByHash(hash: string): Promise<ApiKeyRow | undefined> {
    const r = guarded(() => this.store().keyByHash.get(hash)) as KeyRecord | undefined;
    return r === undefined ? undefined : toKey(r);
  }

  async listKeys(): Promise<ApiKeyRow[]> {
    return (guarded(() => this.store().listKeys.all()) as KeyRecord[]).map(toKey);
  }

  async deleteKey(id: string): Promise<boolean> {
    return guarded(() => this.store().deleteKey.run(id).changes > 0);
  }

  // replace-mode records

  async beginVersion(layout: DatasetLayout, version: number): Promise<void> {
    const records = this.store().records;
    await guardedAsync(() => records.begin(layout, version));
  }

  async applyKeyedBatch(
    layout: DatasetLayout,
    version: number,
    batch: ColumnarBatch,
  ): Promise<KeyedApplyOutcome> {
    // Nothing is awaited before the batch is posted to the build thread, so calls for one version
    // take effect in call order even when several are in flight.
    const records = this.store().records;
    return guardedAsync(() => records.applyBatch(layout, version, batch));
  }

  async publishVersion(dataset: string, version: number): Promise<number | null> {
    const records = this.store().records;
    return guardedAsync(() => records.publish(dataset, version));
  }

  async currentVersion(dataset: string): Promise<number | null> {
    return guarded(() => this.store().records.currentVersion(dataset));
  }

  async dropVersion(dataset: string, version: number): Promise<void> {
    const records = this.store().records;
    await guardedAsync(() => records.drop(dataset, version));
  }

  async listVersions(dataset: string): Promise<number[]> {
    return guarded(() => this.store().records.list(dataset));
  }

  async nextVersion(dataset: string): Promise<number> {
    return guarded(() => this.store().records.next(dataset));
  }

  getRecord(layout: DatasetLayout, keys: readonly string[]): KeyedRecord | undefined {
    return guarded(() => this.store().records.get(layout, keys));
  }

  async findRecords(
    layout: DatasetLayout,
    where: Readonly<Record<string, string>>,
    limit: number,
  ): Promise<KeyedRecord[]> {
    return guarded(() => this.store().records.find(layout, where, limit));
  }

  async scanRecords(
    layout: DatasetLayout,
    version: number,
    onChunk: (records: KeyedRecord[]) => void,
  ): Promise<void> {
    const records = this.store().records;
    await guardedAsync(() => records.scan(layout.spec.name, version, onChunk));
  }

  // background jobs

  async createJob(job: NewJob): Promise<JobRow> {
    return guarded(() => this.store().jobs.create(job, Date.now()));
  }

  async getJob(id: string): Promise<JobRow | undefined> {
    return guarded(() => this.store().jobs.get(id));
  }

  async updateJob(id: string, patch: JobPatch): Promise<void> {
    guarded(() => this.store().jobs.patch(id, patch));
  }

  async unfinishedJobs(kind: string): Promise<JobRow[]> {
    return guarded(() => this.store().jobs.listUnfinished(kind));
  }

  // pull connectors

  async putConnector(row: NewConnectorRow): Promise<void> {
    guarded(() => this.store().connectors.put(row, Date.now()));
  }

  async getConnector(id: string): Promise<ConnectorRow | undefined> {
    return guarded(() => this.store().connectors.get(id));
  }

  async listConnectors(): Promise<ConnectorRow[]> {
    return guarded(() => this.store().connectors.list());
  }

  async saveConnectorState(id: string, state: unknown, health: unknown): Promise<void> {
    guarded(() => this.store().connectors.save(id, state, health, Date.now()));
  }

  async setConnectorPaused(id: string, paused: boolean): Promise<boolean> {
    return guarded(() => this.store().connectors.pause(id, paused, Date.now()));
  }

  async setConnectorCredentials(id: string, sealed: string | null): Promise<boolean> {
    return guarded(() => this.store().connectors.credentials(id, sealed, Date.now()));
  }

  async deleteConnector(id: string): Promise<boolean> {
    return guarded(() => this.store().connectors.delete(id));
  }

  private store(): OpenStore {
    if (this.open === undefined) throw new SluiceError('internal', 'the SQLite MetaStore is not initialised');
    return this.open;
  }
}

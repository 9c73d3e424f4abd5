import type { BatchOutcome, ColumnarBatch, Reject, SourcePosition } from '../core/batch.js';
import type { DatasetLayout, DatasetSpec } from '../core/dataset.js';
import type { AlertStore } from './alert-store.js';
import type { QualityStore } from './quality-store.js';

/**
 * MetaStore: transactional state. Datasets created through the API, uploads and their progress,
 * per-batch outcomes (the upload report is their sum), rejected rows, API keys, and the keyed
 * records of replace-mode datasets with their versions.
 *
 * Adapters: `sqlite` (embedded). Every adapter passes test/conformance/meta-store.ts.
 */
export type UploadStatus = 'receiving' | 'queued' | 'processing' | 'done' | 'failed' | 'cancelled';
export const UPLOAD_STATUSES: readonly UploadStatus[] = [
  'receiving',
  'queued',
  'processing',
  'done',
  'failed',
  'cancelled',
];

export interface UploadRow {
  id: string;
  dataset: string;
  /** API key id of the client that sent it. */
  client: string;
  status: UploadStatus;
  format: 'csv' | 'ndjson';
  contentType: string;
  filename: string | null;
  idempotencyKey: string | null;
  /** Bytes written to the spool file so far. */
  bytesReceived: number;
  /** True once every byte of the body is durable. */
  receiveComplete: boolean;
  /** Resume point: every batch before it is durable in the BatchLog. */
  committed: SourcePosition;
  /** Next batch sequence number to hand out. */
  nextSeq: number;
  /** Number of batches once decoding has finished; null while it runs. */
  batchCount: number | null;
  /** Replace mode: the version this upload builds. */
  version: number | null;
  /** `http`: one request carries the whole body; `tus`: resumable, the body arrives in PATCHes. */
  protocol: 'http' | 'tus';
  /** Declared body length of a tus upload (null while deferred, and for plain uploads). */
  uploadLength: number | null;
  error: string | null;
  createdAt: number;
  receivedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export type NewUpload = Pick<
  UploadRow,
  'id' | 'dataset' | 'client' | 'format' | 'contentType' | 'filename' | 'idempotencyKey' | 'version'
> &
  Partial<Pick<UploadRow, 'protocol' | 'uploadLength'>>;

export type UploadPatch = Partial<
  Pick<
    UploadRow,
    | 'status'
    | 'bytesReceived'
    | 'receiveComplete'
    | 'committed'
    | 'nextSeq'
    | 'batchCount'
    | 'version'
    | 'uploadLength'
    | 'error'
    | 'receivedAt'
    | 'startedAt'
    | 'finishedAt'
  >
>;

export interface UploadFilter {
  dataset?: string;
  client?: string;
  status?: UploadStatus;
  limit?: number;
  /** Return uploads created strictly before this upload id (pagination, newest first). */
  before?: string;
}

export interface UploadCounts {
  total: number;
  valid: number;
  invalid: number;
  duplicate: number;
  /** Batches recorded so far. */
  batches: number;
  rejectsByReason: Record<string, number>;
}

export interface ApiKeyRow {
  id: string;
  name: string;
  role: 'admin' | 'writer' | 'reader';
  /** Dataset scope; null means every dataset. */
  datasets: string[] | null;
  /** Hex SHA-256 of the secret; the secret itself is never stored. */
  hash: string;
  /** First characters of the secret, to recognise it in listings. */
  prefix: string;
  createdAt: number;
}

export interface StoredDataset {
  spec: DatasetSpec;
  createdAt: number;
}

/** What applying a batch to a replace-mode version did. */
export interface KeyedApplyOutcome {
  /** False for a replay: the batch was applied before, and `outcome` is what was recorded then. */
  applied: boolean;
  outcome: BatchOutcome;
  /** Applied rows stored (1) or dropped as duplicates (0); undefined when every row was stored. */
  keep?: Uint8Array;
}

/** A record of a replace-mode dataset, as stored. */
export interface KeyedRecord {
  keys: string[];
  timeUs: number | null;
  timeText: string | null;
  fields: (number | null)[];
  payloads: (string | null)[];
  attributes: (string | null)[];
  line: number;
}

export type JobStatus = 'queued' | 'running' | 'done' | 'failed';

export interface NewJob {
  id: string;
  /** What runs it, e.g. `aggregation`. */
  kind: string;
  /** API key id that asked for it. */
  client: string | null;
  /** The request, as JSON text. */
  input: string;
}

export interface JobRow extends NewJob {
  status: JobStatus;
  /** The result, as JSON text, once done. */
  result: string | null;
  error: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface JobPatch {
  status: JobStatus;
  result?: string;
  error?: string;
  startedAt?: number;
  finishedAt?: number;
}
/** A pull connector as stored: config without secrets, sealed credentials, durable state and health. */
export interface ConnectorRow {
  id: string;
  /** `config` connectors come from the config file (re-put at each start), `api` ones from POST. */
  origin: 'config' | 'api';
  config: unknown;
  /** AES-256-GCM sealed credentials, or null. */
  sealedCredentials: string | null;
  paused: boolean;
  /** The connector's own state (cursor); null before the first save. */
  state: unknown;
  /** Host figures and stoppage state, restored at start. */
  health: unknown;
  createdAt: number;
  updatedAt: number;
}

export type NewConnectorRow = Pick<ConnectorRow, 'id' | 'origin' | 'config' | 'sealedCredentials' | 'paused'>;

export interface MetaStore {
  readonly kind: string;
  init(): Promise<void>;
  close(): Promise<void>;

  /** Alert rules, channels, alerts, silences and rule state (usable once `init` has run). */
  readonly alerts: AlertStore;
  /** Data-quality counters per dataset, client and minute (usable once `init` has run). */
  readonly quality: QualityStore;

  // datasets created through the API (config datasets live in the config)
  putDataset(spec: DatasetSpec): Promise<void>;
  listDatasets(): Promise<StoredDataset[]>;
  deleteDataset(name: string): Promise<boolean>;

  // uploads
  /** Creates the upload, or returns the existing one with the same (client, idempotencyKey). */
  createUpload(row: NewUpload): Promise<{ upload: UploadRow; created: boolean }>;
  getUpload(id: string): Promise<UploadRow | undefined>;
  listUploads(filter: UploadFilter): Promise<UploadRow[]>;
  updateUpload(id: string, patch: UploadPatch): Promise<void>;
  /** Uploads whose status is receiving, queued or processing (to resume at start). */
  unfinishedUploads(): Promise<UploadRow[]>;

  /**
   * Records one applied batch of an upload: its counts and rejected rows. Idempotent by
   * (upload, seq); returns false when the batch was already recorded.
   */
  recordBatch(
    uploadId: string,
    seq: number,
    outcome: BatchOutcome,
    rejects: readonly Reject[],
  ): Promise<boolean>;
  uploadCounts(uploadId: string): Promise<UploadCounts>;
  /** Rejected rows in line order, from `afterLine` (exclusive), at most `limit`. */
  listRejects(uploadId: string, opts: { afterLine?: number; limit: number }): Promise<Reject[]>;

  // API keys
  createKey(row: ApiKeyRow): Promise<void>;
  getKeyByHash(hash: string): Promise<ApiKeyRow | undefined>;
  listKeys(): Promise<ApiKeyRow[]>;
  deleteKey(id: string): Promise<boolean>;

  // replace-mode records
  /** Prepares empty storage for a new version of a replace-mode dataset. Idempotent. */
  beginVersion(layout: DatasetLayout, version: number): Promise<void>;
  /**
   * Writes a batch into a version together with its id and counts, in one transaction. Rows whose key
   * is already in the version count as duplicates (the first one wins). Replaying a recorded batch
   * changes nothing and returns the recorded outcome with `applied: false`. The upload's report is
   * not written here: the caller records the outcome with `recordBatch` (idempotent by upload and
   * seq), as for append mode, so a crash between the two is repaired by the replay. Calls for one
   * version take effect in call order, so several may be in flight. A newly applied batch with
   * duplicates also says which rows were stored (`keep`, 1 = stored), for the version's statistics.
   */
  applyKeyedBatch(layout: DatasetLayout, version: number, batch: ColumnarBatch): Promise<KeyedApplyOutcome>;
  /**
   * Atomically makes `version` the one readers see; returns the previous version, if any. The version
   * takes no more writes. Readers see the old version until the call resolves and the new one after.
   */
  publishVersion(dataset: string, version: number): Promise<number | null>;
  currentVersion(dataset: string): Promise<number | null>;
  /** Removes a version's storage, giving its space back; after writes already sent for it. */
  dropVersion(dataset: string, version: number): Promise<void>;
  /** Lists versions that have storage (to clean up abandoned ones). */
  listVersions(dataset: string): Promise<number[]>;
  /** Hands out the next version number for a dataset. */
  nextVersion(dataset: string): Promise<number>;
  /** Point lookup in the current version. Hot path: adapters keep prepared statements. */
  getRecord(
    layout: DatasetLayout,
    keys: readonly string[],
  ): KeyedRecord | undefined | Promise<KeyedRecord | undefined>;
  /**
   * Records of the current version whose columns (key, field, attribute or time text) equal the given
   * values, all of them, in key order, at most `limit`: the key set of a bulk read ("the cars of shop
   * 123"). `bad_query` for a column the dataset lacks.
   */
  findRecords(
    layout: DatasetLayout,
    where: Readonly<Record<string, string>>,
    limit: number,
  ): Promise<KeyedRecord[]>;
  /** Streams every record of a version in chunks (snapshot rebuild at start). */
  scanRecords(
    layout: DatasetLayout,
    version: number,
    onChunk: (records: KeyedRecord[]) => void,
  ): Promise<void>;

  // background jobs
  /** Creates a job in status `queued`. */
  createJob(job: NewJob): Promise<JobRow>;
  getJob(id: string): Promise<JobRow | undefined>;
  updateJob(id: string, patch: JobPatch): Promise<void>;
  /** Jobs of a kind that are queued or running (to resume at start), oldest first. */
  unfinishedJobs(kind: string): Promise<JobRow[]>;
  // pull connectors
  /** Creates or updates a connector; keeps its state, health and pause flag, and its credentials when null. */
  putConnector(row: NewConnectorRow): Promise<void>;
  getConnector(id: string): Promise<ConnectorRow | undefined>;
  listConnectors(): Promise<ConnectorRow[]>;
  /** Persists state and health together, so a restart resumes from a consistent pair. */
  saveConnectorState(id: string, state: unknown, health: unknown): Promise<void>;
  setConnectorPaused(id: string, paused: boolean): Promise<boolean>;
  setConnectorCredentials(id: string, sealed: string | null): Promise<boolean>;
  deleteConnector(id: string): Promise<boolean>;
}

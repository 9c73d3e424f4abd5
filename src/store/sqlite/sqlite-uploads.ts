import type { BatchOutcome, Reject } from '../../core/batch.js';
import type { RejectReason } from '../../core/errors.js';
import { SluiceError } from '../../core/errors.js';
import type {
  NewUpload,
  UploadCounts,
  UploadFilter,
  UploadPatch,
  UploadRow,
  UploadStatus,
} from '../meta-store.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-schema.js';

type Statement = SqliteStatement;

interface UploadRecord {
  id: string;
  dataset: string;
  client: string;
  status: string;
  format: string;
  content_type: string;
  filename: string | null;
  idempotency_key: string | null;
  bytes_received: number;
  receive_complete: number;
  committed_offset: number;
  committed_line: number;
  next_seq: number;
  batch_count: number | null;
  version: number | null;
  protocol: string;
  upload_length: number | null;
  error: string | null;
  created_at: number;
  received_at: number | null;
  started_at: number | null;
  finished_at: number | null;
}

const UPLOAD_COLUMNS = `id, dataset, client, status, format, content_type, filename, idempotency_key,
  bytes_received, receive_complete, committed_offset, committed_line, next_seq, batch_count, version,
  protocol, upload_length, error, created_at, received_at, started_at, finished_at`;

/** Patch fields that map one-to-one onto a column; `committed` spans two and is handled apart. */
const PATCH_COLUMNS = {
  status: 'status',
  bytesReceived: 'bytes_received',
  receiveComplete: 'receive_complete',
  nextSeq: 'next_seq',
  batchCount: 'batch_count',
  version: 'version',
  uploadLength: 'upload_length',
  error: 'error',
  receivedAt: 'received_at',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
} as const satisfies Record<Exclude<keyof UploadPatch, 'committed'>, string>;

const DEFAULT_LIST_LIMIT = 100;

function toUpload(r: UploadRecord): UploadRow {
  return {
    id: r.id,
    dataset: r.dataset,
    client: r.client,
    status: r.status as UploadStatus,
    format: r.format as UploadRow['format'],
    contentType: r.content_type,
    filename: r.filename,
    idempotencyKey: r.idempotency_key,
    bytesReceived: r.bytes_received,
    receiveComplete: r.receive_complete !== 0,
    committed: { offset: r.committed_offset, line: r.committed_line },
    nextSeq: r.next_seq,
    batchCount: r.batch_count,
    version: r.version,
    protocol: r.protocol as UploadRow['protocol'],
    uploadLength: r.upload_length,
    error: r.error,
    createdAt: r.created_at,
    receivedAt: r.received_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

/** Uploads, their per-batch outcomes and rejected rows. Synchronous; the store wraps it. */
export class SqliteUploads {
  private readonly insertUpload: Statement;
  private readonly selectById: Statement;
  private readonly selectByIdempotency: Statement;
  private readonly selectUnfinished: Statement;
  private readonly insertBatch: Statement;
  private readonly upsertTotals: Statement;
  private readonly upsertReason: Statement;
  private readonly insertReject: Statement;
  private readonly selectTotals: Statement;
  private readonly selectReasons: Statement;
  private readonly selectRejects: Statement;
  /** Statements built from a shape (patched fields, filter fields), cached by that shape. */
  private readonly dynamic = new Map<string, Statement>();
  /** Records a batch; usable on its own or nested inside another transaction. */
  readonly recordBatch: (
    uploadId: string,
    seq: number,
    outcome: BatchOutcome,
    rejects: readonly Reject[],
  ) => boolean;
  readonly create: (row: NewUpload, now: number) => { upload: UploadRow; created: boolean };

  constructor(private readonly db: SqliteDatabase) {
    this.insertUpload = db.prepare(
      `INSERT INTO uploads (id, dataset, client, status, format, content_type, filename, idempotency_key,
         version, protocol, upload_length, created_at)
       VALUES (?, ?, ?, 'receiving', ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectById = db.prepare(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE id = ?`);
    this.selectByIdempotency = db.prepare(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE client = ? AND idempotency_key = ?`,
    );
    this.selectUnfinished = db.prepare(
      `SELECT ${UPLOAD_COLUMNS} FROM uploads
       WHERE status IN ('receiving', 'queued', 'processing') ORDER BY seq`,
    );
    this.insertBatch = db.prepare(
      `INSERT OR IGNORE INTO upload_batches (upload_id, seq, batch_id, total, valid, invalid, duplicate)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.upsertTotals = db.prepare(
      `INSERT INTO upload_totals (upload_id, batches, total, valid, invalid, duplicate)
       VALUES (?, 1, ?, ?, ?, ?)
       ON CONFLICT (upload_id) DO UPDATE SET
         batches = batches + 1,
         total = total + excluded.total,
         valid = valid + excluded.valid,
         invalid = invalid + excluded.invalid,
         duplicate = duplicate + excluded.duplicate`,
    );
    this.upsertReason = db.prepare(
      `INSERT INTO upload_reject_reasons (upload_id, reason, n) VALUES (?, ?, ?)
       ON CONFLICT (upload_id, reason) DO UPDATE SET n = n + excluded.n`,
    );
    this.insertReject = db.prepare(
      `INSERT INTO rejects (upload_id, line, reason, col, raw) VALUES (?, ?, ?, ?, ?)`,
    );
    this.selectTotals = db.prepare(
      `SELECT batches, total, valid, invalid, duplicate FROM upload_totals WHERE upload_id = ?`,
    );
    this.selectReasons = db.prepare(
      `SELECT reason, n FROM upload_reject_reasons WHERE upload_id = ? ORDER BY reason`,
    );
    this.selectRejects = db.prepare(
      `SELECT line, reason, col, raw FROM rejects WHERE upload_id = ? AND line > ? ORDER BY line, rowid LIMIT ?`,
    );

    this.recordBatch = db.transaction(
      (uploadId: string, seq: number, outcome: BatchOutcome, rejects: readonly Reject[]): boolean => {
        const { batchId, total, valid, invalid, duplicate } = outcome;
        const inserted = this.insertBatch.run(uploadId, seq, batchId, total, valid, invalid, duplicate);
        if (inserted.changes === 0) return false;
        this.upsertTotals.run(uploadId, total, valid, invalid, duplicate);
        const byReason = new Map<RejectReason, number>();
        for (const r of rejects) {
          this.insertReject.run(uploadId, r.line, r.reason, r.column, r.raw);
          byReason.set(r.reason, (byReason.get(r.reason) ?? 0) + 1);
        }
        for (const [reason, n] of byReason) this.upsertReason.run(uploadId, reason, n);
        return true;
      },
    );

    const create = db.transaction((row: NewUpload, now: number) => {
      if (row.idempotencyKey !== null) {
        const existing = this.selectByIdempotency.get(row.client, row.idempotencyKey) as
          UploadRecord | undefined;
        if (existing !== undefined) return { upload: toUpload(existing), created: false };
      }
      this.insertUpload.run(
        row.id,
        row.dataset,
        row.client,
        row.format,
        row.contentType,
        row.filename,
        row.idempotencyKey,
        row.version,
        row.protocol ?? 'http',
        row.uploadLength ?? null,
        now,
      );
      return { upload: toUpload(this.selectById.get(row.id) as UploadRecord), created: true };
    });
    // IMMEDIATE takes the write lock before the lookup, so two processes cannot both miss the key.
    this.create = (row, now) => create.immediate(row, now);
  }

  get(id: string): UploadRow | undefined {
    const r = this.selectById.get(id) as UploadRecord | undefined;
    return r === undefined ? undefined : toUpload(r);
  }

  list(filter: UploadFilter): UploadRow[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.dataset !== undefined) {
      where.push('dataset = ?');
      params.push(filter.dataset);
    }
    if (filter.client !== undefined) {
      where.push('client = ?');
      params.push(filter.client);
    }
    if (filter.status !== undefined) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.before !== undefined) {
      // An unknown cursor yields no rows: the subquery is NULL and `seq < NULL` is never true.
      where.push('seq < (SELECT seq FROM uploads WHERE id = ?)');
      params.push(filter.before);
    }
    const sql = `SELECT ${UPLOAD_COLUMNS} FROM uploads ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY seq DESC LIMIT ?`;
    params.push(Math.max(0, Math.floor(filter.limit ?? DEFAULT_LIST_LIMIT)));
    return (this.statement(sql).all(...params) as UploadRecord[]).map(toUpload);
  }

  unfinished(): UploadRow[] {
    return (this.selectUnfinished.all() as UploadRecord[]).map(toUpload);
  }

  update(id: string, patch: UploadPatch): void {
    const sets: string[] = [];
    const params: (string | number | null)[] = [];
    for (const [field, column] of Object.entries(PATCH_COLUMNS) as [keyof typeof PATCH_COLUMNS, string][]) {
      const value = patch[field];
      if (value === undefined) continue;
      sets.push(`${column} = ?`);
      params.push(typeof value === 'boolean' ? (value ? 1 : 0) : value);
    }
    if (patch.committed !== undefined) {
      sets.push('committed_offset = ?', 'committed_line = ?');
      params.push(patch.committed.offset, patch.committed.line);
    }
    if (sets.length === 0) {
      if (this.selectById.get(id) === undefined) throw new SluiceError('upload_not_found', `no upload ${id}`);
      return;
    }
    params.push(id);
    const info = this.statement(`UPDATE uploads SET ${sets.join(', ')} WHERE id = ?`).run(...params);
    if (info.changes === 0) throw new SluiceError('upload_not_found', `no upload ${id}`);
  }

  counts(uploadId: string): UploadCounts {
    const t = this.selectTotals.get(uploadId) as Omit<UploadCounts, 'rejectsByReason'> | undefined;
    const rejectsByReason: Record<string, number> = {};
    for (const r of this.selectReasons.all(uploadId) as { reason: string; n: number }[]) {
      rejectsByReason[r.reason] = r.n;
    }
    return {
      total: t?.total ?? 0,
      valid: t?.valid ?? 0,
      invalid: t?.invalid ?? 0,
      duplicate: t?.duplicate ?? 0,
      batches: t?.batches ?? 0,
      rejectsByReason,
    };
  }

  rejects(uploadId: string, opts: { afterLine?: number; limit: number }): Reject[] {
    const rows = this.selectRejects.all(
      uploadId,
      opts.afterLine ?? -1,
      Math.max(0, Math.floor(opts.limit)),
    ) as { line: number; reason: RejectReason; col: string | null; raw: string }[];
    return rows.map((r) => ({ line: r.line, reason: r.reason, column: r.col, raw: r.raw }));
  }

  private statement(sql: string): Statement {
    let s = this.dynamic.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.dynamic.set(sql, s);
    }
    return s;
  }
}

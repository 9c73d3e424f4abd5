import type { JobPatch, JobRow, JobStatus, NewJob } from '../meta-store.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-schema.js';

interface JobRecord {
  id: string;
  kind: string;
  status: string;
  client: string | null;
  input: string;
  result: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

const COLUMNS = 'id, kind, status, client, input, result, error, created_at, started_at, finished_at';

function rowOf(r: JobRecord): JobRow {
  return {
    id: r.id,
    kind: r.kind,
    status: r.status as JobStatus,
    client: r.client,
    input: r.input,
    result: r.result,
    error: r.error,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

/** Background jobs (aggregations): their request, status and result, kept across restarts. */
export class SqliteJobs {
  private readonly insert: SqliteStatement;
  private readonly byId: SqliteStatement;
  private readonly update: SqliteStatement;
  private readonly unfinished: SqliteStatement;

  constructor(db: SqliteDatabase) {
    this.insert = db.prepare(
      `INSERT INTO jobs (id, kind, status, client, input, created_at) VALUES (?, ?, 'queued', ?, ?, ?)`,
    );
    this.byId = db.prepare(`SELECT ${COLUMNS} FROM jobs WHERE id = ?`);
    this.update = db.prepare(
      `UPDATE jobs SET status = ?, result = coalesce(?, result), error = coalesce(?, error),
         started_at = coalesce(?, started_at), finished_at = coalesce(?, finished_at) WHERE id = ?`,
    );
    this.unfinished = db.prepare(
      `SELECT ${COLUMNS} FROM jobs WHERE kind = ? AND status IN ('queued', 'running') ORDER BY created_at, id`,
    );
  }

  create(job: NewJob, now: number): JobRow {
    this.insert.run(job.id, job.kind, job.client, job.input, now);
    return this.get(job.id)!;
  }

  get(id: string): JobRow | undefined {
    const r = this.byId.get(id) as JobRecord | undefined;
    return r === undefined ? undefined : rowOf(r);
  }

  patch(id: string, p: JobPatch): void {
    this.update.run(
      p.status,
      p.result ?? null,
      p.error ?? null,
      p.startedAt ?? null,
      p.finishedAt ?? null,
      id,
    );
  }

  listUnfinished(kind: string): JobRow[] {
    return (this.unfinished.all(kind) as JobRecord[]).map(rowOf);
  }
}

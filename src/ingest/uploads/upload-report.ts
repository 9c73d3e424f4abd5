import type { MetaStore, UploadRow } from '../../store/meta-store.js';

/** How many rejected rows the report shows inline; the rest are at /rejects. */
export const REPORT_REJECTS = 100;

/** The JSON an upload is shown as: `GET /v1/uploads/{id}` and the `201` of its creation. */
export async function uploadReport(meta: MetaStore, row: UploadRow, opts: { rejects: boolean }) {
  const counts = await meta.uploadCounts(row.id);
  const rejects = opts.rejects ? await meta.listRejects(row.id, { limit: REPORT_REJECTS }) : undefined;
  const end = row.finishedAt ?? Date.now();
  const processingMs = row.startedAt ? end - row.startedAt : null;
  return {
    id: row.id,
    dataset: row.dataset,
    client: row.client,
    status: row.status,
    format: row.format,
    filename: row.filename,
    idempotency_key: row.idempotencyKey,
    version: row.version,
    error: row.error,
    bytes: { received: row.bytesReceived, processed: row.committed.offset, complete: row.receiveComplete },
    rows: { total: counts.total, valid: counts.valid, invalid: counts.invalid, duplicate: counts.duplicate },
    rejects_by_reason: counts.rejectsByReason,
    ...(rejects
      ? { rejects: rejects.map((r) => ({ line: r.line, reason: r.reason, column: r.column, raw: r.raw })) }
      : {}),
    timings: {
      created_at: iso(row.createdAt),
      received_at: iso(row.receivedAt),
      started_at: iso(row.startedAt),
      finished_at: iso(row.finishedAt),
      receive_ms: row.receivedAt ? row.receivedAt - row.createdAt : null,
      processing_ms: processingMs,
    },
    rows_per_s: processingMs && processingMs > 0 ? Math.round((counts.total * 1000) / processingMs) : null,
    links: { self: `/v1/uploads/${row.id}`, rejects: `/v1/uploads/${row.id}/rejects` },
  };
}

export type UploadReport = Awaited<ReturnType<typeof uploadReport>>;

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

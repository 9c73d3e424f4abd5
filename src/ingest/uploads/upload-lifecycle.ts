import type { Logger } from 'pino';
import { SluiceError } from '../../core/errors.js';
import type { MetaStore, UploadRow, UploadStatus } from '../../store/meta-store.js';
import type { IngestMetrics } from '../ingest-metrics.js';

/** What the process knows about an upload that is not finished yet. */
export interface ActiveUpload {
  row: UploadRow;
  /** Batches recorded by the Applier so far. */
  recorded: number;
  /** Set once decoding has emitted the last batch. */
  batchCount: number | null;
  /** Aborts decoding (cancel, shutdown). */
  readonly abort: AbortController;
  finishing: boolean;
  /** Smallest processing turn, in bytes, after a turn too small to emit a batch (see UploadProcessor). */
  minTurnBytes: number;
}

/** Hooks the replace-mode swap into the finish of an upload; see ReplaceVersions. */
export interface FinishHook {
  /** Runs before an upload is marked done (replace mode publishes its version here). */
  beforeDone(row: UploadRow): Promise<void>;
  /** Runs when an upload ends without success (failed or cancelled). */
  onAbandon(row: UploadRow): Promise<void>;
}

/**
 * Moves uploads through `receiving → queued → processing → done | failed | cancelled`. An upload is
 * done when decoding has finished and the Applier has recorded every one of its batches; those two
 * events arrive in either order, so both call `maybeFinish`.
 */
export class UploadLifecycle {
  private readonly active = new Map<string, ActiveUpload>();
  private readonly finished = new Set<(row: UploadRow) => void>();

  constructor(
    private readonly meta: MetaStore,
    private readonly hook: FinishHook,
    private readonly metrics: IngestMetrics,
    private readonly log: Logger,
  ) {}

  async track(row: UploadRow): Promise<ActiveUpload> {
    const existing = this.active.get(row.id);
    if (existing) return existing;
    const counts = await this.meta.uploadCounts(row.id);
    const entry: ActiveUpload = {
      row,
      recorded: counts.batches,
      batchCount: row.batchCount,
      abort: new AbortController(),
      finishing: false,
      minTurnBytes: 0,
    };
    this.active.set(row.id, entry);
    return entry;
  }

  get(id: string): ActiveUpload | undefined {
    return this.active.get(id);
  }

  /** Calls `fn` with each upload that reaches a final status (for waiting clients and tests). */
  onFinished(fn: (row: UploadRow) => void): () => void {
    this.finished.add(fn);
    return () => this.finished.delete(fn);
  }

  async setStatus(id: string, status: UploadStatus, extra: Partial<UploadRow> = {}): Promise<void> {
    await this.meta.updateUpload(id, { status, ...extra });
    const a = this.active.get(id);
    if (a) Object.assign(a.row, { status, ...extra });
  }

  async batchRecorded(id: string, isNew: boolean): Promise<void> {
    const a = this.active.get(id);
    if (!a) return;
    if (isNew) a.recorded++;
    await this.maybeFinish(a);
  }

  async decodeFinished(id: string, batchCount: number): Promise<void> {
    await this.meta.updateUpload(id, { batchCount });
    const a = this.active.get(id);
    if (!a) return;
    a.batchCount = batchCount;
    a.row.batchCount = batchCount;
    await this.maybeFinish(a);
  }

  async cancel(id: string): Promise<UploadRow> {
    const row = this.active.get(id)?.row ?? (await this.meta.getUpload(id));
    if (!row) throw new SluiceError('upload_not_found', `Unknown upload '${id}'`);
    if (row.status === 'done' || row.status === 'failed' || row.status === 'cancelled')
      throw new SluiceError('upload_finished', `Upload '${id}' is already ${row.status}`);
    await this.end(row, 'cancelled', null);
    return { ...row, status: 'cancelled' };
  }

  async fail(id: string, error: string): Promise<void> {
    const row = this.active.get(id)?.row ?? (await this.meta.getUpload(id));
    if (!row || row.status === 'done' || row.status === 'cancelled' || row.status === 'failed') return;
    await this.end(row, 'failed', error);
  }

  /** Stops tracking everything (shutdown); decoding loops see their abort signal. */
  abortAll(): void {
    for (const a of this.active.values()) a.abort.abort();
  }

  private async maybeFinish(a: ActiveUpload): Promise<void> {
    if (a.finishing || a.batchCount === null || a.recorded < a.batchCount) return;
    if (a.row.status !== 'processing' && a.row.status !== 'queued') return;
    a.finishing = true;
    try {
      await this.hook.beforeDone(a.row);
      const finishedAt = Date.now();
      await this.setStatus(a.row.id, 'done', { finishedAt });
      this.active.delete(a.row.id);
      await this.announce(a.row);
    } catch (err) {
      a.finishing = false;
      this.log.error({ err, upload: a.row.id }, 'finishing upload failed');
      await this.fail(a.row.id, `finishing failed: ${(err as Error).message}`);
    }
  }

  private async end(row: UploadRow, status: 'failed' | 'cancelled', error: string | null): Promise<void> {
    const a = this.active.get(row.id);
    a?.abort.abort();
    await this.setStatus(row.id, status, { error, finishedAt: Date.now() });
    this.active.delete(row.id);
    await this.hook.onAbandon(row);
    await this.announce({ ...row, status, error });
  }

  private async announce(row: UploadRow): Promise<void> {
    const counts = await this.meta.uploadCounts(row.id);
    this.metrics.uploads.inc({ dataset: row.dataset, status: row.status });
    const level = row.status === 'failed' ? 'warn' : 'info';
    this.log[level](
      {
        upload: row.id,
        dataset: row.dataset,
        client: row.client,
        status: row.status,
        rows: {
          total: counts.total,
          valid: counts.valid,
          invalid: counts.invalid,
          duplicate: counts.duplicate,
        },
        ms: row.startedAt ? Date.now() - row.startedAt : null,
        error: row.error ?? undefined,
      },
      'upload finished',
    );
    for (const fn of this.finished) fn(row);
  }
}

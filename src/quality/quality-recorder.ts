import type { Logger } from 'pino';
import type { AppliedBatch } from '../apply/applier.js';
import type { MetaStore, UploadRow } from '../store/meta-store.js';
import type { QualityDelta, QualityExample } from '../store/quality-store.js';

const MINUTE_MS = 60_000;
/** Example lines taken per batch and reason (the store keeps a few per minute). */
const EXAMPLES_PER_BATCH = 3;
/** Rejected rows read from a finished replace-mode upload for examples. */
const UPLOAD_EXAMPLE_ROWS = 300;

/**
 * Keeps the quality counters: each newly applied batch adds its row outcomes and reject reasons to
 * the minute it was applied in, for its dataset and client. Replace-mode uploads do not pass through
 * the batch listener, so their report is added when they finish.
 */
export class QualityRecorder {
  constructor(
    private readonly meta: MetaStore,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  onBatch(applied: AppliedBatch): void {
    const { outcome, batch, layout, client } = applied;
    const reasons = new Map<string, { n: number; examples: QualityExample[] }>();
    for (const r of batch.rejects) {
      let e = reasons.get(r.reason);
      if (!e) reasons.set(r.reason, (e = { n: 0, examples: [] }));
      e.n++;
      if (e.examples.length < EXAMPLES_PER_BATCH)
        e.examples.push({ line: r.line, column: r.column, raw: r.raw });
    }
    this.add({
      dataset: layout.spec.name,
      client: client ?? '',
      bucketMs: Math.floor(this.now() / MINUTE_MS) * MINUTE_MS,
      total: outcome.total,
      valid: outcome.valid,
      invalid: outcome.invalid,
      duplicate: outcome.duplicate,
      reasons,
    });
  }

  async onUploadFinished(row: UploadRow, mode: 'append' | 'replace'): Promise<void> {
    if (mode !== 'replace' || row.status !== 'done') return;
    const counts = await this.meta.uploadCounts(row.id);
    const rejects = await this.meta.listRejects(row.id, { limit: UPLOAD_EXAMPLE_ROWS });
    const reasons = new Map<string, { n: number; examples: QualityExample[] }>();
    for (const [reason, n] of Object.entries(counts.rejectsByReason))
      reasons.set(reason, { n, examples: [] });
    for (const r of rejects) {
      const e = reasons.get(r.reason);
      if (e && e.examples.length < EXAMPLES_PER_BATCH)
        e.examples.push({ line: r.line, column: r.column, raw: r.raw });
    }
    this.add({
      dataset: row.dataset,
      client: row.client,
      bucketMs: Math.floor((row.finishedAt ?? this.now()) / MINUTE_MS) * MINUTE_MS,
      total: counts.total,
      valid: counts.valid,
      invalid: counts.invalid,
      duplicate: counts.duplicate,
      reasons,
    });
  }

  private add(delta: QualityDelta): void {
    this.meta.quality
      .addQuality([delta])
      .catch((err: unknown) =>
        this.log.error({ err, dataset: delta.dataset }, 'recording quality counters failed'),
      );
  }
}

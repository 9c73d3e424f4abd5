import type { Logger } from 'pino';
import type { SluiceConfig } from '../config/schema.js';
import type { DatasetRegistry } from '../core/dataset-registry.js';
import type { BatchLog } from '../log/batch-log.js';
import type { MetaStore, UploadRow } from '../store/meta-store.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DecodeEnd, DecodePool } from './decode-pool.js';
import type { SliceResult } from './fair-scheduler.js';
import type { InflightBytes } from './inflight-bytes.js';
import type { Spool } from './uploads/spool.js';
import type { UploadLifecycle } from './uploads/upload-lifecycle.js';

/** Batches a decode thread may run ahead of the log, and log appends awaiting their fsync. */
const DECODE_WINDOW = 32;
const APPENDS_IN_FLIGHT = 16;
/**
 * Batches logged but not yet applied, past which decoding waits. Enough to keep the Applier busy, and
 * small enough that another client's batches wait behind at most a second or so of this upload's.
 */
const MAX_LOG_BACKLOG = 24;
const NO_WORK: SliceResult = { bytes: 0, more: false };

/**
 * Decodes an upload's spooled bytes, from its committed position, on a decode thread, and appends the
 * batches to the BatchLog. The committed position moves only after a batch is durable in the log, so
 * a restart re-decodes at most the batches whose hand-off was not yet recorded; the Applier ignores
 * repeats.
 */
export class UploadProcessor {
  constructor(
    private readonly deps: {
      config: Readonly<SluiceConfig>;
      registry: DatasetRegistry;
      meta: MetaStore;
      batchLog: BatchLog;
      spool: Spool;
      lifecycle: UploadLifecycle;
      decoders: DecodePool;
      inflight: InflightBytes;
      log: Logger;
    },
  ) {}

  /**
   * Processes one turn of an upload: at most about `budget` bytes of its durable body, from its
   * committed position. A resumable upload that is still arriving stops at its durable end and gets
   * another turn when more bytes land.
   */
  async process(uploadId: string, budget: number): Promise<SliceResult> {
    const { meta, lifecycle, log } = this.deps;
    const row = await meta.getUpload(uploadId);
    if (!row || !['receiving', 'queued', 'processing'].includes(row.status)) return NO_WORK;
    const durableEnd = row.bytesReceived;
    if (row.committed.offset >= durableEnd && !row.receiveComplete) return NO_WORK;
    const active = await lifecycle.track(row);
    try {
      if (row.startedAt === null)
        log.info(
          { upload: row.id, dataset: row.dataset, client: row.client, bytes: row.bytesReceived },
          'upload started',
        );
      if (row.receiveComplete && row.status !== 'processing')
        await lifecycle.setStatus(row.id, 'processing', { startedAt: row.startedAt ?? Date.now() });
      else if (row.startedAt === null)
        await lifecycle.setStatus(row.id, row.status, { startedAt: Date.now() });
      // A turn that ends mid-body re-decodes the rows after its last full batch next time; a budget
      // smaller than one batch would never progress, so it grows until a batch fits.
      const limit = Math.min(durableEnd, row.committed.offset + Math.max(budget, active.minTurnBytes));
      const final = row.receiveComplete && limit === durableEnd;
      const end = await this.decode(row, limit, final, active.abort.signal);
      if (end === null || active.abort.signal.aborted) return NO_WORK;
      const progressed = end.nextSeq > row.nextSeq;
      active.minTurnBytes = progressed ? 0 : Math.max(2 * (limit - row.committed.offset), 1 << 20);
      if (end.finished) {
        await lifecycle.decodeFinished(row.id, end.nextSeq);
        return { bytes: limit - row.committed.offset, more: false };
      }
      const after = await meta.getUpload(uploadId);
      const consumed = (after?.committed.offset ?? row.committed.offset) - row.committed.offset;
      return { bytes: consumed, more: limit < durableEnd || (after?.bytesReceived ?? 0) > limit };
    } catch (err) {
      if (active.abort.signal.aborted) return NO_WORK;
      log.error({ err, upload: uploadId }, 'upload processing failed');
      await lifecycle.fail(uploadId, (err as Error).message);
      return NO_WORK;
    }
  }

  private async decode(
    row: UploadRow,
    limit: number,
    final: boolean,
    signal: AbortSignal,
  ): Promise<DecodeEnd | null> {
    const { config, registry, meta, batchLog, spool, decoders, inflight } = this.deps;
    const { layout } = registry.get(row.dataset);
    const resumeAfterHeader =
      row.format === 'csv' && row.committed.offset > 0 && layout.spec.csv.header !== 'false';
    // Appends are pipelined: each moves the committed position once durable, in order.
    const inFlight: Promise<void>[] = [];
    const next = await decoders.decode(
      {
        uploadId: row.id,
        path: spool.pathOf(row.id),
        spec: layout.spec,
        format: row.format,
        batchRows: config.ingest.batch_rows,
        maxLineBytes: config.ingest.max_line_bytes,
        nowMs: row.createdAt,
        start: row.committed,
        startSeq: row.nextSeq,
        headerLine: resumeAfterHeader ? spool.readFirstLine(row.id, config.ingest.max_line_bytes) : undefined,
        window: DECODE_WINDOW,
        limit,
        final,
      },
      {
        batch: async (payload, seq, end) => {
          while (batchLog.stats().backlogBatches >= MAX_LOG_BACKLOG && !signal.aborted) await sleep(5);
          const moved = batchLog
            .appendEncoded(payload)
            .then(() => meta.updateUpload(row.id, { committed: end, nextSeq: seq + 1 }))
            .then(() => inflight.processed(row.id, end.offset));
          moved.catch(() => {}); // observed when awaited below; this only keeps it from being "unhandled"
          inFlight.push(moved);
          if (inFlight.length >= APPENDS_IN_FLIGHT) await inFlight.shift();
        },
      },
      signal,
    );
    await Promise.all(inFlight);
    return next;
  }
}

import type { Logger } from 'pino';
import type { SluiceConfig } from '../config/schema.js';
import type { DatasetRegistry } from '../core/dataset-registry.js';
import type { BatchLog } from '../log/batch-log.js';
import type { MetaStore, UploadRow } from '../store/meta-store.js';
import type { DecodePool } from './decode-pool.js';
import type { Spool } from './uploads/spool.js';
import type { UploadLifecycle } from './uploads/upload-lifecycle.js';

/** Batches a decode thread may run ahead of the log, and log appends awaiting their fsync. */
const DECODE_WINDOW = 32;
const APPENDS_IN_FLIGHT = 16;

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
      log: Logger;
    },
  ) {}

  async process(uploadId: string): Promise<void> {
    const { meta, lifecycle, log } = this.deps;
    const row = await meta.getUpload(uploadId);
    if (!row || (row.status !== 'queued' && row.status !== 'processing')) return;
    const active = await lifecycle.track(row);
    try {
      if (row.status === 'queued')
        await lifecycle.setStatus(row.id, 'processing', { startedAt: row.startedAt ?? Date.now() });
      log.info(
        { upload: row.id, dataset: row.dataset, client: row.client, bytes: row.bytesReceived },
        'upload started',
      );
      const nextSeq = await this.decode(row, active.abort.signal);
      if (nextSeq !== null && !active.abort.signal.aborted) await lifecycle.decodeFinished(row.id, nextSeq);
    } catch (err) {
      if (active.abort.signal.aborted) return;
      log.error({ err, upload: uploadId }, 'upload processing failed');
      await lifecycle.fail(uploadId, (err as Error).message);
    }
  }

  private async decode(row: UploadRow, signal: AbortSignal): Promise<number | null> {
    const { config, registry, meta, batchLog, spool, decoders } = this.deps;
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
      },
      {
        batch: async (payload, seq, end) => {
          const moved = batchLog
            .appendEncoded(payload)
            .then(() => meta.updateUpload(row.id, { committed: end, nextSeq: seq + 1 }));
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

import fs from 'node:fs';
import type { Logger } from 'pino';
import type { SluiceConfig } from '../config/schema.js';
import type { DatasetRegistry } from '../core/dataset-registry.js';
import type { BatchLog } from '../log/batch-log.js';
import type { MetaStore } from '../store/meta-store.js';
import { UploadDecoder } from './upload-decoder.js';
import type { Spool } from './uploads/spool.js';
import type { UploadLifecycle } from './uploads/upload-lifecycle.js';

const READ_CHUNK = 1 << 20;

/**
 * Decodes an upload's spooled bytes from its committed position into batches and appends them to
 * the BatchLog. The committed position moves only after a batch is durable in the log, so a restart
 * re-decodes at most the batches whose hand-off was not yet recorded; the Applier ignores repeats.
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
      await this.decode(uploadId, active.abort.signal);
    } catch (err) {
      if (active.abort.signal.aborted) return;
      log.error({ err, upload: uploadId }, 'upload processing failed');
      await lifecycle.fail(uploadId, (err as Error).message);
    }
  }

  private async decode(uploadId: string, signal: AbortSignal): Promise<void> {
    const { config, registry, meta, batchLog, spool, lifecycle } = this.deps;
    const row = (await meta.getUpload(uploadId))!;
    const { layout } = registry.get(row.dataset);
    const resumeAfterHeader =
      row.format === 'csv' && row.committed.offset > 0 && layout.spec.csv.header !== 'false';
    const decoder = new UploadDecoder({
      layout,
      source: row.id,
      format: row.format,
      batchRows: config.ingest.batch_rows,
      maxLineBytes: config.ingest.max_line_bytes,
      nowMs: row.createdAt,
      start: row.committed,
      startSeq: row.nextSeq,
      headerLine: resumeAfterHeader ? spool.readFirstLine(row.id, config.ingest.max_line_bytes) : undefined,
    });
    let nextSeq = row.nextSeq;
    // Appends of one read share fsyncs (the log group-commits); the position moves once all are durable.
    const handOff = async (batches: ReturnType<UploadDecoder['push']>): Promise<void> => {
      if (batches.length === 0) return;
      await Promise.all(batches.map((b) => batchLog.append(b)));
      const last = batches[batches.length - 1]!;
      nextSeq = last.seq + 1;
      await meta.updateUpload(row.id, { committed: last.end, nextSeq });
    };
    const fd = await fs.promises.open(spool.pathOf(row.id), 'r');
    try {
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      let pos = row.committed.offset;
      for (;;) {
        if (signal.aborted) return;
        const { bytesRead } = await fd.read(buf, 0, READ_CHUNK, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        // The decoder keeps references into what it is given, so hand it a copy of the shared buffer.
        await handOff(decoder.push(Buffer.from(buf.subarray(0, bytesRead))));
      }
      await handOff(decoder.end());
    } finally {
      await fd.close();
    }
    if (!signal.aborted) await lifecycle.decodeFinished(row.id, nextSeq);
  }
}

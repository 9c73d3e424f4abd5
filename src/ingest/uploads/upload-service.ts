import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Principal } from '../../auth/keys.js';
import type { SluiceConfig } from '../../config/schema.js';
import type { DatasetRegistry } from '../../core/dataset-registry.js';
import { SluiceError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { MetaStore, NewUpload, UploadFilter, UploadRow } from '../../store/meta-store.js';
import type { IngestMetrics } from '../ingest-metrics.js';
import type { FairScheduler } from '../fair-scheduler.js';
import type { InflightBytes } from '../inflight-bytes.js';
import type { Spool } from './spool.js';
import type { UploadLifecycle } from './upload-lifecycle.js';

export interface IncomingUpload {
  dataset: string;
  principal: Principal;
  format: 'csv' | 'ndjson';
  contentType: string;
  filename: string | null;
  idempotencyKey: string | null;
  body: Readable;
}

/**
 * Takes uploads in: records the upload, streams its body to the spool, and queues it for decoding
 * once the bytes are durable. An `Idempotency-Key` already used by the same client returns that
 * upload instead, and the repeated body is discarded.
 */
export class UploadService {
  constructor(
    private readonly deps: {
      config: Readonly<SluiceConfig>;
      registry: DatasetRegistry;
      meta: MetaStore;
      spool: Spool;
      queue: FairScheduler;
      lifecycle: UploadLifecycle;
      metrics: IngestMetrics;
      inflight: InflightBytes;
      log: Logger;
    },
  ) {}

  /**
   * Records a new upload, or finds the one its idempotency key names. `version` is a fresh replace-mode
   * version number either way (a retry of a cut upload builds it).
   */
  private async insert(
    inc: Omit<IncomingUpload, 'body'>,
    extra: Pick<NewUpload, 'protocol' | 'uploadLength'> = {},
  ): Promise<{ upload: UploadRow; created: boolean; version: number | null }> {
    const { registry, meta } = this.deps;
    const { layout } = registry.get(inc.dataset);
    const version = layout.spec.mode === 'replace' ? await meta.nextVersion(inc.dataset) : null;
    const inserted = await meta.createUpload({
      id: newId('up'),
      dataset: inc.dataset,
      client: inc.principal.id,
      format: inc.format,
      contentType: inc.contentType,
      filename: inc.filename,
      idempotencyKey: inc.idempotencyKey,
      version,
      ...extra,
    });
    return { ...inserted, version };
  }

  async create(inc: IncomingUpload): Promise<{ row: UploadRow; created: boolean }> {
    const { registry, meta } = this.deps;
    const { layout } = registry.get(inc.dataset);
    const { upload, created, version } = await this.insert(inc);
    if (!created) {
      if (upload.dataset !== inc.dataset) {
        inc.body.resume();
        throw new SluiceError(
          'idempotency_conflict',
          `Idempotency-Key '${inc.idempotencyKey}' was used for an upload to '${upload.dataset}'`,
        );
      }
      // A first attempt whose body never arrived whole is received again; otherwise it is a replay.
      if (!(upload.status === 'failed' && !upload.receiveComplete)) {
        inc.body.resume();
        return { row: upload, created: false };
      }
      // Another version may have been published meanwhile: the retry builds a fresh one, or it would
      // be superseded by the version it should replace.
      const retry = { status: 'receiving', error: null, finishedAt: null, version } as const;
      await meta.updateUpload(upload.id, retry);
      Object.assign(upload, retry);
    }
    if (upload.version !== null) await meta.beginVersion(layout, upload.version);
    return { row: await this.receive(upload, inc.body), created: true };
  }

  /**
   * Opens a resumable upload whose body arrives later in pieces (tus). It is tracked at once, so its
   * batches are applied as soon as its first bytes are durable.
   */
  async open(
    inc: Omit<IncomingUpload, 'body' | 'idempotencyKey'> & { uploadLength?: number },
  ): Promise<UploadRow> {
    const { registry, meta, lifecycle } = this.deps;
    const { layout } = registry.get(inc.dataset);
    const { upload } = await this.insert(
      { ...inc, idempotencyKey: null },
      { protocol: 'tus', uploadLength: inc.uploadLength ?? null },
    );
    if (upload.version !== null) await meta.beginVersion(layout, upload.version);
    await lifecycle.track(upload);
    return upload;
  }

  private async receive(row: UploadRow, body: Readable): Promise<UploadRow> {
    const { config, meta, spool, queue, metrics, lifecycle } = this.deps;
    let bytes: number;
    try {
      bytes = await spool.receive(row.id, body, config.ingest.max_upload_bytes, (n) =>
        this.deps.inflight.add(row.id, row.client, n),
      );
    } catch (err) {
      this.deps.inflight.release(row.id);
      await spool.remove(row.id);
      const reason =
        err instanceof SluiceError ? err.message : 'the connection closed before the body was complete';
      await lifecycle.fail(row.id, reason);
      throw err instanceof SluiceError ? err : new SluiceError('bad_request', reason, { cause: err });
    }
    if (bytes === 0) {
      await spool.remove(row.id);
      await lifecycle.fail(row.id, 'the body is empty');
      throw new SluiceError('empty_body', 'The upload body is empty');
    }
    const receivedAt = Date.now();
    await meta.updateUpload(row.id, {
      bytesReceived: bytes,
      receiveComplete: true,
      receivedAt,
      status: 'queued',
    });
    metrics.bytes.inc({ dataset: row.dataset }, bytes);
    queue.enqueue(row.id, row.client);
    return { ...row, bytesReceived: bytes, receiveComplete: true, receivedAt, status: 'queued' };
  }

  async get(id: string): Promise<UploadRow> {
    const row = await this.deps.meta.getUpload(id);
    if (!row) throw new SluiceError('upload_not_found', `Unknown upload '${id}'`);
    return row;
  }

  list(filter: UploadFilter): Promise<UploadRow[]> {
    return this.deps.meta.listUploads(filter);
  }

  cancel(id: string): Promise<UploadRow> {
    return this.deps.lifecycle.cancel(id);
  }

  /**
   * At start: plain uploads whose body was cut by a crash fail (the client never got a 201 and will
   * retry); resumable ones wait for the client to resume. The rest are queued again from their
   * committed position.
   */
  async resumeUnfinished(): Promise<number> {
    const { meta, queue, lifecycle, spool, log } = this.deps;
    let resumed = 0;
    for (const row of await meta.unfinishedUploads()) {
      if (row.protocol === 'tus' && !row.receiveComplete && spool.exists(row.id)) {
        await lifecycle.track(row);
        this.deps.inflight.received(row.id, row.client, row.bytesReceived);
        this.deps.inflight.processed(row.id, row.committed.offset);
        if (row.committed.offset < row.bytesReceived) queue.enqueue(row.id, row.client);
        continue;
      }
      if (!row.receiveComplete || !spool.exists(row.id)) {
        await lifecycle.fail(row.id, 'the server stopped before the body was complete; retry the upload');
        continue;
      }
      await lifecycle.track(row);
      this.deps.inflight.received(row.id, row.client, row.bytesReceived);
      this.deps.inflight.processed(row.id, row.committed.offset);
      queue.enqueue(row.id, row.client);
      resumed++;
      log.info({ upload: row.id, offset: row.committed.offset, seq: row.nextSeq }, 'resuming upload');
    }
    return resumed;
  }
}

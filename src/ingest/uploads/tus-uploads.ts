import type { Logger } from 'pino';
import { allows, type Principal } from '../../auth/keys.js';
import type { DatasetRegistry } from '../../core/dataset-registry.js';
import { SluiceError } from '../../core/errors.js';
import type { MetaStore, UploadRow } from '../../store/meta-store.js';
import type { FairScheduler } from '../fair-scheduler.js';
import type { IngestMetrics } from '../ingest-metrics.js';
import type { InflightBytes } from '../inflight-bytes.js';
import type { Spool } from './spool.js';
import { parseUploadChecksum, type ExpectedChecksum } from './tus-checksum.js';
import type { TusStoreHooks } from './tus-spool-store.js';
import type { UploadLifecycle } from './upload-lifecycle.js';
import type { UploadService } from './upload-service.js';

/**
 * The Sluice side of resumable uploads: turns a tus creation into an upload record, hands durable
 * bytes to processing as they land (so statistics move while a file arrives), and maps termination
 * and expiry onto the upload lifecycle.
 */
export class TusUploads implements TusStoreHooks {
  private readonly checksums = new Map<string, ExpectedChecksum>();

  constructor(
    private readonly deps: {
      registry: DatasetRegistry;
      meta: MetaStore;
      spool: Spool;
      uploads: UploadService;
      lifecycle: UploadLifecycle;
      queue: FairScheduler;
      metrics: IngestMetrics;
      inflight: InflightBytes;
      log: Logger;
    },
  ) {}

  /**
   * Creates the upload for a tus creation request. `Upload-Metadata` must name the `dataset`; the
   * format comes from `format`, else from the filename's extension, else the dataset's default.
   */
  async open(principal: Principal, metadata: Record<string, string | null> | undefined): Promise<string> {
    const dataset = metadata?.dataset;
    if (!dataset)
      throw new SluiceError('bad_request', 'Upload-Metadata must name the dataset: "dataset <base64 name>"');
    if (!this.deps.registry.has(dataset))
      throw new SluiceError('dataset_not_found', `Unknown dataset '${dataset}'`);
    if (!allows(principal, 'writer', dataset))
      throw new SluiceError('forbidden', `The key may not write dataset '${dataset}'`);
    const filename = metadata.filename ?? metadata.name ?? null;
    const format = formatOf(
      metadata.format ?? null,
      filename,
      this.deps.registry.get(dataset).layout.spec.format,
    );
    const row = await this.deps.uploads.open({
      dataset,
      principal,
      format,
      contentType: metadata.filetype ?? (format === 'csv' ? 'text/csv' : 'application/x-ndjson'),
      filename,
    });
    return row.id;
  }

  /** Checks that the key may touch this upload, and keeps a PATCH's checksum for the store. */
  async admit(principal: Principal, uploadId: string, checksumHeader: string | null): Promise<void> {
    const row = await this.deps.meta.getUpload(uploadId);
    if (row && row.client !== principal.id && principal.role !== 'admin')
      throw new SluiceError('forbidden', 'The upload belongs to another key');
    if (checksumHeader === null) return;
    const parsed = parseUploadChecksum(checksumHeader);
    if (typeof parsed === 'string') throw new SluiceError('bad_request', parsed);
    this.checksums.set(uploadId, parsed);
  }

  takeChecksum(uploadId: string): ExpectedChecksum | undefined {
    const c = this.checksums.get(uploadId);
    this.checksums.delete(uploadId);
    return c;
  }

  async durable(row: UploadRow, offset: number, complete: boolean): Promise<void> {
    const { lifecycle, queue, metrics } = this.deps;
    metrics.bytes.inc({ dataset: row.dataset }, Math.max(0, offset - row.bytesReceived));
    row.bytesReceived = offset;
    this.deps.inflight.received(row.id, row.client, offset);
    const active = await lifecycle.track(row);
    active.row.bytesReceived = offset;
    if (complete)
      await lifecycle.setStatus(row.id, 'queued', { receiveComplete: true, receivedAt: Date.now() });
    queue.enqueue(row.id, row.client);
  }

  async terminate(row: UploadRow): Promise<void> {
    if (!['done', 'failed', 'cancelled'].includes(row.status)) await this.deps.lifecycle.cancel(row.id);
    await this.deps.spool.remove(row.id);
  }

  async expire(row: UploadRow): Promise<void> {
    this.deps.log.info({ upload: row.id, bytes: row.bytesReceived }, 'resumable upload expired');
    await this.deps.lifecycle.fail(row.id, 'expired: the upload was not completed in time');
    await this.deps.spool.remove(row.id);
  }
}

function formatOf(
  declared: string | null,
  filename: string | null,
  fallback: 'csv' | 'ndjson',
): 'csv' | 'ndjson' {
  if (declared === 'csv' || declared === 'ndjson') return declared;
  if (declared !== null)
    throw new SluiceError('bad_request', `Unknown format '${declared}'; use csv or ndjson`);
  if (filename && /\.(ndjson|jsonl)$/i.test(filename)) return 'ndjson';
  if (filename && /\.(csv|tsv|txt)$/i.test(filename)) return 'csv';
  return fallback;
}

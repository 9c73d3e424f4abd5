import type { Logger } from 'pino';
import type { BatchOutcome, ColumnarBatch } from '../core/batch.js';
import type { DatasetLayout } from '../core/dataset.js';
import type { DatasetRegistry } from '../core/dataset-registry.js';
import type { IngestMetrics } from '../ingest/ingest-metrics.js';
import type { UploadLifecycle } from '../ingest/uploads/upload-lifecycle.js';
import type { StatsSnapshot } from '../query/stats-snapshot.js';
import type { MetaStore } from '../store/meta-store.js';
import type { SeriesStore } from '../store/series-store.js';
import { DedupIndex, commitMask, dedupMask } from './dedup-index.js';
import type { ReplaceVersions } from './replace-versions.js';

/**
 * Applies each batch exactly once. The store records the batch id in the same transaction as the
 * rows (SeriesStore for append mode, MetaStore for replace mode), so a batch delivered again after a
 * crash changes nothing. The upload's counts are per-batch rows keyed by (upload, seq), so they are
 * exact too. In-memory state (statistics snapshot, dedup index) changes only after a batch is newly
 * applied, and is rebuilt from the stores at start.
 */
export class Applier {
  private readonly dedup = new Map<string, DedupIndex>();

  constructor(
    private readonly deps: {
      registry: DatasetRegistry;
      meta: MetaStore;
      series: SeriesStore;
      snapshot: StatsSnapshot;
      versions: ReplaceVersions;
      lifecycle: UploadLifecycle;
      metrics: IngestMetrics;
      log: Logger;
    },
  ) {}

  /** Rebuilds statistics and dedup indexes from the stores (at start, before serving). */
  async rebuild(): Promise<void> {
    for (const { layout } of this.deps.registry.list()) await this.rebuildDataset(layout);
  }

  async rebuildDataset(layout: DatasetLayout): Promise<void> {
    const { series, snapshot, meta, versions } = this.deps;
    const name = layout.spec.name;
    const started = Date.now();
    snapshot.clear(name);
    if (layout.spec.mode === 'replace') {
      const v = await meta.currentVersion(name);
      if (v !== null) snapshot.replace(name, await versions.snapshotOf(layout, v));
    } else {
      await series.ensureDataset(layout);
      const index = layout.spec.dedup === 'none' ? null : new DedupIndex(await series.count(layout));
      await series.scan(layout, (chunk) => {
        snapshot.add(layout, chunk);
        if (index && chunk.hashes) for (let i = 0; i < chunk.length; i++) index.add(chunk.hashes[i]!);
      });
      if (index) this.dedup.set(name, index);
    }
    this.deps.log.debug({ dataset: name, ms: Date.now() - started }, 'rebuilt dataset state');
  }

  forget(dataset: string): void {
    this.dedup.delete(dataset);
    this.deps.snapshot.clear(dataset);
  }

  async apply(batch: ColumnarBatch): Promise<void> {
    const { lifecycle, registry } = this.deps;
    const upload = lifecycle.get(batch.source);
    const dataset = registry.find(batch.dataset);
    // Batches of cancelled or unknown uploads, or of deleted datasets, are acknowledged and dropped.
    if (!upload || !dataset || upload.row.status === 'cancelled') return;
    const { layout } = dataset;
    const { outcome, isNew } =
      layout.spec.mode === 'replace'
        ? await this.applyKeyed(layout, upload.row.version ?? 0, batch)
        : await this.applySeries(layout, batch);
    if (isNew) this.count(batch, outcome);
    await lifecycle.batchRecorded(batch.source, isNew);
  }

  private async applySeries(
    layout: DatasetLayout,
    batch: ColumnarBatch,
  ): Promise<{ outcome: BatchOutcome; isNew: boolean }> {
    const { series, snapshot, meta } = this.deps;
    const index = batch.hashes ? this.indexFor(layout.spec.name) : null;
    const keep = index && batch.hashes ? dedupMask(index, batch.hashes, batch.length) : undefined;
    const res = await series.append(layout, batch, keep);
    if (res.applied) {
      if (index && keep) commitMask(index, batch.hashes!, keep);
      snapshot.add(layout, batch, keep);
    }
    const outcome: BatchOutcome = {
      batchId: batch.id,
      total: batch.totalRows,
      valid: res.inserted,
      invalid: batch.rejects.length,
      duplicate: res.duplicate,
    };
    const isNew = await meta.recordBatch(batch.source, batch.seq, outcome, batch.rejects);
    return { outcome, isNew };
  }

  private async applyKeyed(
    layout: DatasetLayout,
    version: number,
    batch: ColumnarBatch,
  ): Promise<{ outcome: BatchOutcome; isNew: boolean }> {
    const { applied, outcome } = await this.deps.meta.applyKeyedBatch(layout, version, batch);
    if (applied) this.deps.versions.addRows(batch.source, layout, batch);
    return { outcome, isNew: applied };
  }

  private indexFor(dataset: string): DedupIndex {
    let index = this.dedup.get(dataset);
    if (!index) {
      index = new DedupIndex();
      this.dedup.set(dataset, index);
    }
    return index;
  }

  private count(batch: ColumnarBatch, o: BatchOutcome): void {
    const m = this.deps.metrics;
    m.rows.inc({ dataset: batch.dataset, outcome: 'valid' }, o.valid);
    if (o.invalid) m.rows.inc({ dataset: batch.dataset, outcome: 'invalid' }, o.invalid);
    if (o.duplicate) m.rows.inc({ dataset: batch.dataset, outcome: 'duplicate' }, o.duplicate);
    for (const r of batch.rejects) m.rejects.inc({ dataset: batch.dataset, reason: r.reason });
  }
}

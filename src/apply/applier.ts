import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import { AsyncMutex } from '../core/async-mutex.js';
import type { BatchOutcome, ColumnarBatch } from '../core/batch.js';
import type { DatasetLayout } from '../core/dataset.js';
import type { DatasetRegistry } from '../core/dataset-registry.js';
import { SluiceError } from '../core/errors.js';
import type { IngestMetrics } from '../ingest/ingest-metrics.js';
import type { UploadLifecycle } from '../ingest/uploads/upload-lifecycle.js';
import type { LiveRollups } from '../query/analytics/live-rollups.js';
import type { StatsSnapshot } from '../query/stats-snapshot.js';
import type { GroupHandled } from '../log/batch-log.js';
import type { MetaStore } from '../store/meta-store.js';
import type { AppendResult, SeriesStore } from '../store/series-store.js';
import type { ReplaceVersions } from './replace-versions.js';
import type { StatsCheckpoints } from './stats-checkpoints.js';

/**
 * Rows folded into statistics per event-loop task (under a millisecond of work). Stats p99 during a
 * 5M-row ingest: 7.0 and 6.9 ms at 1024, 7.8, 9.8 and 7.5 ms at 2048 (runs alternated, one evening).
 */
const FOLD_SLICE_ROWS = 1024;

/** What is left of a group once its rows are stored: statistics, reports, listeners. */
type Fold = () => Promise<void>;

/** Tries of a group failing with a non-retriable error before its uploads fail. */
const MAX_ATTEMPTS = 5;
/**
 * How long a statistics checkpoint encodes before it lets the event loop run again: short enough that
 * schedules (entity polls) and queries barely notice, long enough that the yields cost little.
 */
const CHECKPOINT_SLICE_MS = 8;

/**
 * What listeners learn about each newly applied append-mode batch (rollups, quality counters, alert
 * hooks, writers waiting for their outcome). Called once per batch id, after the store committed it.
 */
export interface AppliedBatch {
  readonly layout: DatasetLayout;
  readonly batch: ColumnarBatch;
  /** Rows kept after dedup (1) or dropped as duplicates (0); undefined when every row was kept. */
  readonly keep: Uint8Array | undefined;
  readonly outcome: BatchOutcome;
  /** Client (API key id) that sent the rows, when known. */
  readonly client: string | null;
  /** The store's apply sequence of the batch (see `AppendResult.seq`). */
  readonly seq: number;
}

export type AppliedBatchListener = (applied: AppliedBatch) => void;

/**
 * Called for every batch the Applier has dealt with, newly applied or not: with its outcome (a replay
 * reports the recorded counts), or null when the batch was dropped (deleted dataset, cancelled upload,
 * a stream write to a replace-mode dataset). Lets writers wait for their batches.
 */
export type BatchDoneListener = (batch: ColumnarBatch, outcome: BatchOutcome | null) => void;

/**
 * Sources that are not uploads (write API requests, connectors) name themselves with these id
 * prefixes. Their batches are applied like upload batches but have no upload row to report into.
 */
export interface StreamSources {
  /** True when `source` is a live stream source, and the client that owns it. */
  clientOf(source: string): string | null | undefined;
}

/**
 * Applies each batch exactly once. The store records the batch id in the same transaction as the
 * rows (SeriesStore for append mode, the version's storage in the MetaStore for replace mode), so a
 * batch delivered again after a crash changes nothing. The upload's counts are per-batch rows keyed by (upload, seq), so they are
 * exact too. In-memory state (statistics snapshot, dedup index) changes only after a batch is newly
 * applied, and is rebuilt from the stores at start.
 */
export class Applier {
  /** Failed attempts of the group at the head of the log, by its first batch id. */
  private readonly attempts = new Map<string, number>();
  private readonly listeners: AppliedBatchListener[] = [];
  private readonly doneListeners: BatchDoneListener[] = [];
  private readonly streams: StreamSources[] = [];
  /** Per append-mode dataset, the highest apply sequence folded into the statistics snapshot. */
  private readonly statsSeq = new Map<string, number>();
  /** Per dataset, the apply sequence its last statistics checkpoint covers. */
  private readonly savedSeq = new Map<string, number>();
  /**
   * A group is handled in two stages: storing its rows (dedup, store transaction) under `applying`,
   * then folding them into statistics and recording reports under `folding`. The next group is
   * stored while the previous one folds, so the store's thread and this one work side by side.
   * Checkpoints take `folding`, so they see whole groups only.
   */
  private readonly applying = new AsyncMutex();
  private readonly folding = new AsyncMutex();
  private checkpointTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      registry: DatasetRegistry;
      meta: MetaStore;
      series: SeriesStore;
      snapshot: StatsSnapshot;
      live: LiveRollups;
      versions: ReplaceVersions;
      lifecycle: UploadLifecycle;
      metrics: IngestMetrics;
      checkpoints: StatsCheckpoints;
      log: Logger;
    },
  ) {}

  /** Listeners run synchronously after each newly applied batch; they must not throw or block. */
  onBatchApplied(listener: AppliedBatchListener): void {
    this.listeners.push(listener);
  }

  onBatchDone(listener: BatchDoneListener): void {
    this.doneListeners.push(listener);
  }

  /** Registers a kind of non-upload source whose batches this Applier accepts. */
  acceptStreams(sources: StreamSources): void {
    this.streams.push(sources);
  }

  /** Rebuilds statistics from checkpoints and the stores (at start, before serving). */
  async rebuild(): Promise<void> {
    for (const { layout } of this.deps.registry.list()) await this.rebuildDataset(layout);
  }

  /**
   * Rebuilds one dataset's statistics. Append mode: they start from the dataset's checkpoint, if it
   * fits, and take the stored rows applied after it.
   */
  rebuildDataset(layout: DatasetLayout): Promise<void> {
    return this.applying.run(() => this.folding.run(() => this.rebuildLocked(layout)));
  }

  private async rebuildLocked(layout: DatasetLayout): Promise<void> {
    const { series, snapshot, meta, versions } = this.deps;
    const name = layout.spec.name;
    const started = Date.now();
    snapshot.clear(name);
    if (layout.spec.mode === 'replace') {
      const v = await meta.currentVersion(name);
      if (v !== null) snapshot.replace(name, await versions.snapshotOf(layout, v));
    } else {
      await series.ensureDataset(layout);
      const from = this.restoreCheckpoint(layout);
      let seq = from;
      await series.scan(
        layout,
        (chunk) => {
          snapshot.add(layout, chunk);
          for (let i = 0; i < chunk.length; i++) if (chunk.seqs[i]! > seq) seq = chunk.seqs[i]!;
        },
        { afterSeq: from },
      );
      this.statsSeq.set(name, seq);
      this.savedSeq.set(name, from);
      await this.deps.live.rebuild(layout, snapshot);
    }
    this.deps.log.debug({ dataset: name, ms: Date.now() - started }, 'rebuilt dataset state');
  }

  /** Loads the dataset's statistics checkpoint into the snapshot; the apply sequence it covers, or 0. */
  private restoreCheckpoint(layout: DatasetLayout): number {
    const name = layout.spec.name;
    try {
      const saved = this.deps.checkpoints.load(name);
      if (saved !== undefined && this.deps.snapshot.decode(layout, saved.bytes)) return saved.seq;
    } catch (err) {
      this.deps.log.warn({ err, dataset: name }, 'statistics checkpoint unreadable; rebuilding from rows');
    }
    this.deps.snapshot.clear(name);
    return 0;
  }

  /**
   * Writes a statistics checkpoint of every append-mode dataset whose statistics changed since its
   * last one. Runs between groups, never while one is being applied.
   */
  checkpointStats(): Promise<void> {
    return this.folding.run(() => this.checkpointLocked());
  }

  /**
   * Runs `drop` (retention dropping raw rows) right after a statistics checkpoint, with no batch
   * applied in between: the statistics on disk then hold every row the drop removes.
   */
  afterCheckpoint<T>(drop: () => Promise<T>): Promise<T> {
    return this.applying.run(() =>
      this.folding.run(async () => {
        await this.checkpointLocked();
        return drop();
      }),
    );
  }

  private async checkpointLocked(): Promise<void> {
    for (const { layout } of this.deps.registry.list()) {
      const name = layout.spec.name;
      const seq = this.statsSeq.get(name) ?? 0;
      if (layout.spec.mode !== 'append' || seq <= (this.savedSeq.get(name) ?? 0)) continue;
      // No batch is folded while this turn lasts, so the slices see one state of the dataset.
      const bytes = await this.deps.snapshot.encodeInSlices(name, CHECKPOINT_SLICE_MS);
      // A dataset dropped meanwhile (`forget` does not wait for the turn) must not get its file back.
      if (bytes === undefined || !this.statsSeq.has(name)) continue;
      await this.deps.checkpoints.save(name, seq, bytes);
      if (!this.statsSeq.has(name)) this.deps.checkpoints.remove(name);
      else this.savedSeq.set(name, seq);
    }
  }

  /** Checkpoints statistics every `intervalMs` until `stopCheckpoints`. */
  startCheckpoints(intervalMs: number): void {
    if (this.checkpointTimer !== undefined) return;
    this.checkpointTimer = setInterval(() => {
      this.checkpointStats().catch((err: unknown) =>
        this.deps.log.error({ err }, 'writing a statistics checkpoint failed; the next one tries again'),
      );
    }, intervalMs);
    this.checkpointTimer.unref();
  }

  stopCheckpoints(): void {
    if (this.checkpointTimer !== undefined) clearInterval(this.checkpointTimer);
    this.checkpointTimer = undefined;
  }

  forget(dataset: string): void {
    this.deps.snapshot.clear(dataset);
    this.deps.live.forget(dataset);
    this.deps.checkpoints.remove(dataset);
    this.statsSeq.delete(dataset);
    this.savedSeq.delete(dataset);
  }

  /**
   * The BatchLog consumer. A group whose apply keeps failing with a non-retriable error (a bug, a
   * batch the store refuses) fails its uploads and is skipped after a few tries, so one poisoned batch
   * cannot stop every upload behind it. Retriable errors (a store outage) are retried until they pass.
   */
  consume(batches: readonly ColumnarBatch[]): Promise<GroupHandled> {
    return this.applying.run(async () => {
      const folds = await this.storeLocked(batches);
      const settled = this.folding.run(async () => {
        for (const fold of folds) await fold();
      });
      // The log awaits `settled` before it acknowledges the group, and redelivers it on failure.
      settled.catch(() => undefined);
      return { settled };
    });
  }

  private async storeLocked(batches: readonly ColumnarBatch[]): Promise<Fold[]> {
    const head = batches[0]?.id ?? '';
    try {
      const folds = await this.applyGroup(batches);
      this.attempts.delete(head);
      return folds;
    } catch (err) {
      const tries = (this.attempts.get(head) ?? 0) + 1;
      this.attempts.set(head, tries);
      if ((err instanceof SluiceError && err.retriable) || tries < MAX_ATTEMPTS) throw err;
      this.attempts.delete(head);
      const message = `applying failed ${tries} times: ${(err as Error).message}`;
      for (const source of new Set(batches.map((b) => b.source)))
        await this.deps.lifecycle.fail(source, message);
      return [];
    }
  }

  /**
   * Stores consecutive batches from the log; returns what is left to fold. Runs of batches for one
   * append-mode dataset go to the SeriesStore in one transaction (group commit), which spreads the
   * commit's fsync over many batches.
   */
  private async applyGroup(batches: readonly ColumnarBatch[]): Promise<Fold[]> {
    const { lifecycle, registry } = this.deps;
    // Batches of cancelled or unknown uploads, or of deleted datasets, are acknowledged and dropped.
    const live = batches.filter((b) => {
      const upload = lifecycle.get(b.source);
      const keep =
        registry.has(b.dataset) &&
        (upload ? upload.row.status !== 'cancelled' : this.streamClient(b.source) !== undefined);
      if (!keep) this.done(b, null);
      return keep;
    });
    const folds: Fold[] = [];
    for (let i = 0; i < live.length;) {
      const { layout } = registry.get(live[i]!.dataset);
      let j = i + 1;
      while (j < live.length && live[j]!.dataset === layout.spec.name) j++;
      if (layout.spec.mode === 'replace') {
        // Replace-mode datasets change only through uploads, one whole snapshot each.
        for (const b of live.slice(i, j)) {
          if (lifecycle.get(b.source)) await this.applyKeyed(layout, b);
          else this.done(b, null);
        }
      } else {
        folds.push(await this.applySeries(layout, live.slice(i, j)));
      }
      i = j;
    }
    return folds;
  }

  /**
   * Stores a run of one dataset's batches in one transaction and updates dedup at once (the next
   * group's masks depend on it); returns the fold: statistics, reports and listeners, in batch order.
   */
  private async applySeries(layout: DatasetLayout, group: readonly ColumnarBatch[]): Promise<Fold> {
    // The store drops duplicates itself (against stored rows and within the group) and says which.
    const results = await this.deps.series.appendMany(
      layout,
      group.map((batch) => ({ batch })),
    );
    return () => this.foldSeries(layout, group, results);
  }

  private async foldSeries(
    layout: DatasetLayout,
    group: readonly ColumnarBatch[],
    results: readonly AppendResult[],
  ): Promise<void> {
    const { snapshot, live } = this.deps;
    for (let k = 0; k < group.length; k++) {
      const batch = group[k]!;
      const res = results[k]!;
      const keep = res.kept;
      if (res.applied) {
        // In slices, with the event loop running between them, so no request waits behind a batch.
        for (let at = 0; at < batch.length; at += FOLD_SLICE_ROWS) {
          if (at > 0) await yieldToEventLoop();
          const to = Math.min(batch.length, at + FOLD_SLICE_ROWS);
          snapshot.add(layout, batch, keep, at, to);
          live.add(layout, batch, keep, at, to);
        }
        if (res.seq > (this.statsSeq.get(layout.spec.name) ?? 0))
          this.statsSeq.set(layout.spec.name, res.seq);
      }
      const outcome: BatchOutcome = {
        batchId: batch.id,
        total: batch.totalRows,
        valid: res.inserted,
        invalid: batch.rejects.length,
        duplicate: res.duplicate,
      };
      // Read before recording: recording the last batch finishes the upload and forgets it.
      const client = this.clientOf(batch.source);
      const isNew = await this.record(batch, outcome, res.applied);
      if (res.applied && isNew) this.notify({ layout, batch, keep, outcome, client, seq: res.seq });
      this.done(batch, outcome);
      // Let queries in between batches of a large group.
      await yieldToEventLoop();
    }
  }

  /** Records the outcome once per batch id; true when this is the first time. */
  private async record(batch: ColumnarBatch, outcome: BatchOutcome, applied: boolean): Promise<boolean> {
    if (!this.deps.lifecycle.get(batch.source)) {
      // Stream sources have no upload row: the store's applied-id check already made this exactly once.
      if (applied) this.count(batch, outcome);
      return applied;
    }
    const isNew = await this.deps.meta.recordBatch(batch.source, batch.seq, outcome, batch.rejects);
    if (isNew) this.count(batch, outcome);
    await this.deps.lifecycle.batchRecorded(batch.source, isNew);
    return isNew;
  }

  private clientOf(source: string): string | null {
    return this.deps.lifecycle.get(source)?.row.client ?? this.streamClient(source) ?? null;
  }

  private notify(applied: AppliedBatch): void {
    const { batch } = applied;
    for (const listener of this.listeners) {
      try {
        listener(applied);
      } catch (err) {
        this.deps.log.error({ err, batch: batch.id }, 'a batch listener failed');
      }
    }
  }

  private done(batch: ColumnarBatch, outcome: BatchOutcome | null): void {
    for (const listener of this.doneListeners) listener(batch, outcome);
  }

  private streamClient(source: string): string | null | undefined {
    for (const s of this.streams) {
      const client = s.clientOf(source);
      if (client !== undefined) return client;
    }
    return undefined;
  }

  private async applyKeyed(layout: DatasetLayout, batch: ColumnarBatch): Promise<void> {
    const { lifecycle, meta, versions } = this.deps;
    const upload = lifecycle.get(batch.source);
    // The rows go to the version's own storage (built off the event loop); the report row is then
    // recorded here, once per (upload, seq), as for append mode. A crash between the two is repaired
    // by the replay: the version reports the batch applied with the counts it kept.
    const { applied, outcome, keep } = await meta.applyKeyedBatch(layout, upload?.row.version ?? 0, batch);
    if (!lifecycle.get(batch.source)) {
      // Cancelled while its rows were being written: the version is being discarded with the upload.
      this.done(batch, null);
      return;
    }
    if (applied) versions.addRows(batch.source, layout, batch, keep);
    await this.record(batch, outcome, applied);
    this.done(batch, outcome);
    await yieldToEventLoop();
  }

  private count(batch: ColumnarBatch, o: BatchOutcome): void {
    const m = this.deps.metrics;
    m.rows.inc({ dataset: batch.dataset, outcome: 'valid' }, o.valid);
    if (o.invalid) m.rows.inc({ dataset: batch.dataset, outcome: 'invalid' }, o.invalid);
    if (o.duplicate) m.rows.inc({ dataset: batch.dataset, outcome: 'duplicate' }, o.duplicate);
    for (const r of batch.rejects) m.rejects.inc({ dataset: batch.dataset, reason: r.reason });
  }
}

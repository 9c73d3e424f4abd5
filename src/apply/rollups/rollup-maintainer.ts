import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ColumnarBatch } from '../../core/batch.js';
import type { DatasetLayout } from '../../core/dataset.js';
import type { DatasetRegistry } from '../../core/dataset-registry.js';
import type { SeriesStore } from '../../store/series-store.js';
import type { AppliedBatch, Applier } from '../applier.js';
import { RollupAccumulator } from './rollup-accumulator.js';

/** Batches (apply sequences) read back per transaction while recovering. */
const RECOVER_SEQS = 4;

/** Rows folded into one rollup transaction at most: folding is synchronous, so this bounds how long it holds the event loop. */
const SLICE_ROWS = 20_000;

interface QueuedBatch {
  layout: DatasetLayout;
  batch: ColumnarBatch;
  keep: Uint8Array | undefined;
  seq: number;
}

export interface RollupMaintainerOptions {
  flushIntervalMs: number;
  /** Queued rows (all datasets) that start a flush before the interval is up. */
  maxPendingRows: number;
}

/**
 * Keeps the stored rollups current. The Applier's listener only queues each newly applied batch (no
 * per-row work on the apply path); a background flush folds the queued rows into 1m/1h/1d deltas and
 * merges them into the SeriesStore together with the dataset's rollup watermark, in one transaction.
 *
 * Crash safety: rows carry their batch's apply sequence. At start, `recover` reads the rows stored
 * after the watermark (applied, but not yet in the rollups when the process stopped) and merges
 * them, so the rollups equal what the raw rows say: nothing counted twice, nothing lost.
 */
export class RollupMaintainer {
  /** Batches applied but not yet in the stored rollups, per dataset, in apply order. */
  private readonly queued = new Map<string, QueuedBatch[]>();
  /** Applied rows missing from the stored rollups at start, by apply sequence range (from, to]. */
  private tails: { layout: DatasetLayout; from: number; to: number }[] = [];
  private recovering: Promise<void> | undefined;
  private pendingRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private readonly flushes: Counter<'outcome'>;
  private readonly flushSeconds: Histogram;
  private readonly pending: Gauge;
  private readonly recovered: Counter<'dataset'>;

  constructor(
    private readonly deps: {
      series: SeriesStore;
      registry: DatasetRegistry;
      log: Logger;
      metrics: Registry;
      options: RollupMaintainerOptions;
    },
  ) {
    const registers = [deps.metrics];
    this.flushes = new Counter({
      name: 'sluice_rollup_flushes_total',
      help: 'Rollup flushes into the SeriesStore, by outcome (ok, failed)',
      labelNames: ['outcome'],
      registers,
    });
    this.flushSeconds = new Histogram({
      name: 'sluice_rollup_flush_seconds',
      help: 'Time to fold queued rows into rollups and store them',
      buckets: [0.005, 0.02, 0.05, 0.2, 0.5, 2, 5, 20],
      registers,
    });
    this.pending = new Gauge({
      name: 'sluice_rollup_pending_rows',
      help: 'Applied rows not yet folded into the stored rollups',
      registers,
    });
    this.recovered = new Counter({
      name: 'sluice_rollup_recovered_rows_total',
      help: 'Rows re-read from raw storage at start because the rollups had not stored them before a stop',
      labelNames: ['dataset'],
      registers,
    });
  }

  get enabled(): boolean {
    return this.deps.series.capabilities.has('rollups');
  }

  attach(applier: Applier): void {
    if (!this.enabled) return;
    applier.onBatchApplied((a) => this.enqueue(a));
  }

  private enqueue(a: AppliedBatch): void {
    if (a.layout.spec.mode !== 'append' || a.outcome.valid === 0) return;
    const name = a.layout.spec.name;
    let q = this.queued.get(name);
    if (q === undefined) this.queued.set(name, (q = []));
    q.push({ layout: a.layout, batch: a.batch, keep: a.keep, seq: a.seq });
    this.pendingRows += a.batch.length;
    this.pending.set(this.pendingRows);
    if (this.pendingRows >= this.deps.options.maxPendingRows) this.requestFlush();
  }

  /**
   * At start, before any batch is applied: notes, per dataset, the applied rows the stored rollups
   * lack (apply sequences after its watermark, up to the last one stored). `start` then merges them
   * in the background, so a long tail does not delay readiness; flushes of newer rows wait for it.
   */
  async prepareRecovery(): Promise<void> {
    if (!this.enabled) return;
    const { series, registry } = this.deps;
    const last = await series.lastSeq();
    this.tails = [];
    for (const { layout } of registry.list()) {
      if (layout.spec.mode !== 'append') continue;
      const mark = await series.rollupWatermark(layout.spec.name);
      if (mark < last) this.tails.push({ layout, from: mark, to: last });
    }
  }

  /** Runs recovery once; after a failure, the next call tries again from the watermark reached. */
  private ensureRecovered(): Promise<void> {
    if (this.tails.length === 0) return Promise.resolve();
    this.recovering ??= this.recover().finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  /** Merges the tails found by `prepareRecovery`, a few batches per transaction. */
  private async recover(): Promise<void> {
    const { series, log } = this.deps;
    for (const tail of this.tails) {
      const name = tail.layout.spec.name;
      let rows = 0;
      for (let from = tail.from; from < tail.to;) {
        const to = Math.min(tail.to, from + RECOVER_SEQS);
        if (!this.deps.registry.has(name)) break;
        const acc = new RollupAccumulator(tail.layout);
        await series.scan(
          tail.layout,
          (chunk) => {
            acc.add(chunk);
            rows += chunk.length;
          },
          { afterSeq: from, throughSeq: to },
        );
        await series.mergeRollups(tail.layout, acc.take(), to);
        from = to;
        // A failed step is retried from here, not from the start of the tail.
        tail.from = to;
        await yieldToEventLoop();
      }
      this.recovered.inc({ dataset: name }, rows);
      if (rows > 0) log.info({ dataset: name, rows }, 'rollups caught up with rows applied before a stop');
    }
    this.tails = [];
  }

  start(): void {
    if (!this.enabled || this.timer !== undefined) return;
    this.ensureRecovered().catch((err: unknown) =>
      this.deps.log.error({ err }, 'rollup recovery failed; the next flush tries again'),
    );
    this.timer = setInterval(() => this.requestFlush(), this.deps.options.flushIntervalMs);
    this.timer.unref();
  }

  private requestFlush(): void {
    this.flush().catch((err: unknown) => this.deps.log.error({ err }, 'rollup flush failed; will retry'));
  }

  /** Folds every queued row into the stored rollups; resolves when they are stored. */
  async flush(): Promise<void> {
    if (this.running !== undefined) {
      // One flush at a time; a caller waiting for its rows gets one more pass after the current one.
      this.again = true;
      await this.running;
      if (this.queued.size === 0) return;
      return this.flush();
    }
    this.running = this.flushQueued().finally(() => {
      this.running = undefined;
    });
    await this.running;
    if (this.again) {
      this.again = false;
      if (this.queued.size > 0) await this.flush();
    }
  }

  private async flushQueued(): Promise<void> {
    // Newer rows go in only after the tail before them: the watermark covers everything below it.
    await this.ensureRecovered();
    const entries = [...this.queued.entries()];
    this.queued.clear();
    const stop = this.flushSeconds.startTimer();
    let failure: unknown;
    for (const [name, items] of entries) {
      for (const it of items) this.pendingRows -= it.batch.length;
      // A deleted dataset's queued rows went with its data.
      if (!this.deps.registry.has(name)) continue;
      // Runs of batches under one layout (a redefined dataset changes it) fold together, at most
      // SLICE_ROWS rows per transaction, which bounds the memory the deltas take.
      for (let i = 0; i < items.length;) {
        const layout = items[i]!.layout;
        let j = i;
        const acc = new RollupAccumulator(layout);
        try {
          for (; j < items.length && items[j]!.layout === layout && acc.pendingRows < SLICE_ROWS; j++) {
            acc.add(items[j]!.batch, items[j]!.keep);
            await yieldToEventLoop();
          }
          await this.deps.series.mergeRollups(layout, acc.take(), items[j - 1]!.seq);
        } catch (err) {
          failure ??= err;
          this.requeue(name, items.slice(i));
          break;
        }
        i = j;
      }
    }
    stop();
    this.pending.set(this.pendingRows);
    this.flushes.inc({ outcome: failure === undefined ? 'ok' : 'failed' });
    if (failure !== undefined) throw failure;
  }

  /** Puts a failed flush's batches back ahead of anything queued since. */
  private requeue(name: string, items: QueuedBatch[]): void {
    const later = this.queued.get(name) ?? [];
    this.queued.set(name, [...items, ...later]);
    for (const it of items) this.pendingRows += it.batch.length;
  }

  forget(dataset: string): void {
    for (const it of this.queued.get(dataset) ?? []) this.pendingRows -= it.batch.length;
    this.queued.delete(dataset);
    this.pending.set(this.pendingRows);
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

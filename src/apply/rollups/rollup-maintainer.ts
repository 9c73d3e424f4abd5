import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ColumnarBatch } from '../../core/batch.js';
import type { DatasetLayout } from '../../core/dataset.js';
import type { ScanChunk } from '../../store/series-store.js';
import { TimeSlicer } from '../../core/time-slicer.js';
import { ROLLUP_SLICE_MS } from './cell-block.js';
import { RollupAccumulator, type RollupDeltaSet } from './rollup-accumulator.js';

/** Batches (apply sequences) read back per transaction while recovering. */
const RECOVER_SEQS = 4;

/**
 * Rows folded into one rollup transaction at most. Each transaction reads back and rewrites the cells
 * it shares with those stored (the open hour and day of every active series: 2,000 cells and their
 * sketches for 1,000 devices at 1h and 1d), whatever its number of rows, so a small slice pays that
 * rewrite over and over: at 64Ki rows a slice, a 10 GB readings upload queued rollups faster than
 * they were stored (4.5M rows pending after 90M, and the memory they hold grew with them). Building
 * and merging run in time slices (ROLLUP_SLICE_MS), so a large fold does not hold the thread either;
 * what it bounds is the memory of one transaction's cells.
 */
const SLICE_ROWS = 1_048_576;

/** Queued rows, as a multiple of `maxPendingRows`, past which appends wait for a flush (see admit). */
const PENDING_CAP = 4;

/**
 * Applied rows of one dataset not yet in the stored rollups, folded as they arrive: an accumulator's
 * typed arrays take about 20 bytes a row and level, where keeping the batches until the flush kept
 * their decoded strings and encoded bytes alive (over 100 bytes a row).
 */
interface PendingFold {
  layout: DatasetLayout;
  acc: RollupAccumulator;
  /** The deltas once taken; kept here so a failed merge is retried with them. */
  deltas?: RollupDeltaSet;
  /** Apply sequence of the last batch folded in. */
  seq: number;
  rows: number;
}

/** What the maintainer needs of the store that holds the raw rows and the rollups. */
export interface RollupTarget {
  /** Apply sequence of the last batch stored. */
  lastSeq(): Promise<number>;
  /** Apply sequence up to which the dataset's stored rollups include every row. */
  rollupWatermark(dataset: string): Promise<number>;
  /** Rows of batches whose apply sequence is in (afterSeq, throughSeq]. */
  scan(
    layout: DatasetLayout,
    onChunk: (chunk: ScanChunk) => void,
    opts: { afterSeq: number; throughSeq: number },
  ): Promise<void>;
  /** Merges deltas and moves the dataset's watermark to `throughSeq`, in one transaction. */
  mergeRollups(layout: DatasetLayout, deltas: RollupDeltaSet, throughSeq: number): Promise<void>;
}

export interface RollupMaintainerOptions {
  flushIntervalMs: number;
  /** Queued rows (all datasets) that start a flush before the interval is up. */
  maxPendingRows: number;
}

/**
 * Keeps a store's rollups current; the store owns one and hands it every newly applied batch. Each batch
 * is folded at once into the dataset's open accumulator (a copy of its series, times and values in
 * typed arrays, so the batch itself is not kept); a background flush builds each accumulator's deltas
 * for every rollup level and merges them into the store together with the dataset's rollup watermark,
 * in one transaction.
 *
 * Crash safety: rows carry their batch's apply sequence. The first time the store sees a dataset after
 * opening (`noteDataset`, before any new append to it), the rows stored after its watermark (applied,
 * but not yet in the rollups when the process stopped) are noted, and merged before any newer flush,
 * so the rollups equal what the raw rows say: nothing counted twice, nothing lost.
 */
export class RollupMaintainer {
  /** Rows applied but not yet in the stored rollups, per dataset, in apply order. */
  private readonly queued = new Map<string, PendingFold[]>();
  /** Applied rows missing from the stored rollups at start, by apply sequence range (from, to]. */
  private tails: { layout: DatasetLayout; from: number; to: number }[] = [];
  /** Datasets whose tail has been looked for since the store opened. */
  private readonly noted = new Set<string>();
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
      target: RollupTarget;
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

  /**
   * A newly applied batch of an append-mode dataset, `keep` its rows not dropped as duplicates: folded
   * at once into the dataset's open accumulator (a new one per SLICE_ROWS rows or layout change).
   */
  enqueue(layout: DatasetLayout, batch: ColumnarBatch, keep: Uint8Array | undefined, seq: number): void {
    if (layout.spec.mode !== 'append') return;
    const name = layout.spec.name;
    let q = this.queued.get(name);
    if (q === undefined) this.queued.set(name, (q = []));
    let open = q.at(-1);
    // A fold whose deltas were taken (its merge failed and waits for a retry) takes no more rows.
    if (
      open === undefined ||
      open.deltas !== undefined ||
      open.layout !== layout ||
      open.rows >= SLICE_ROWS
    ) {
      open = { layout, acc: new RollupAccumulator(layout), seq, rows: 0 };
      q.push(open);
    }
    open.acc.add(batch, keep);
    open.seq = seq;
    open.rows += batch.length;
    this.pendingRows += batch.length;
    this.pending.set(this.pendingRows);
    if (this.pastBound(1)) this.requestFlush();
  }

  /**
   * The first time a dataset is seen after the store opened, before any new batch of it is applied:
   * notes the applied rows its stored rollups lack (apply sequences after its watermark, up to the
   * last one stored). They are merged in the background, so a long tail does not delay readiness;
   * flushes of newer rows wait for it.
   */
  async noteDataset(layout: DatasetLayout): Promise<void> {
    const name = layout.spec.name;
    if (layout.spec.mode !== 'append' || this.noted.has(name)) return;
    this.noted.add(name);
    const { target } = this.deps;
    const last = await target.lastSeq();
    const mark = await target.rollupWatermark(name);
    if (mark < last) {
      this.tails.push({ layout, from: mark, to: last });
      if (this.timer !== undefined) this.startRecovery();
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

  /** Merges the tails found by `noteDataset`, a few batches per transaction. */
  private async recover(): Promise<void> {
    const { target, log } = this.deps;
    while (this.tails.length > 0) {
      const tail = this.tails[0]!;
      const name = tail.layout.spec.name;
      let rows = 0;
      for (let from = tail.from; from < tail.to;) {
        const to = Math.min(tail.to, from + RECOVER_SEQS);
        if (!this.noted.has(name)) break;
        const acc = new RollupAccumulator(tail.layout);
        await target.scan(
          tail.layout,
          (chunk) => {
            acc.add(chunk);
            rows += chunk.length;
          },
          { afterSeq: from, throughSeq: to },
        );
        await target.mergeRollups(tail.layout, await acc.take(new TimeSlicer(ROLLUP_SLICE_MS)), to);
        from = to;
        // A failed step is retried from here, not from the start of the tail.
        tail.from = to;
        await yieldToEventLoop();
      }
      this.recovered.inc({ dataset: name }, rows);
      if (rows > 0) log.info({ dataset: name, rows }, 'rollups caught up with rows applied before a stop');
      this.tails = this.tails.filter((t) => t !== tail);
    }
  }

  /** Starts the flush timer and the recovery of tails noted so far. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.requestFlush(), this.deps.options.flushIntervalMs);
    this.timer.unref();
    this.startRecovery();
  }

  private startRecovery(): void {
    this.ensureRecovered().catch((err: unknown) =>
      this.deps.log.error({ err }, 'rollup recovery failed; the next flush tries again'),
    );
  }

  /**
   * A background flush (the timer, or the pending bound reached). While one runs, a request is
   * dropped: the running flush checks the bound when it ends. Queueing a flush behind each request made
   * them run back to back, each with the few rows that came meanwhile, and every flush rewrites the open
   * hour and day of each active series (about three flushes a second in a 10 GB upload).
   */
  private requestFlush(): void {
    if (this.running !== undefined) return;
    this.flush().catch((err: unknown) => this.deps.log.error({ err }, 'rollup flush failed; will retry'));
  }

  /**
   * Resolves once the rows queued for rollups are below `PENDING_CAP` × maxPendingRows, flushing
   * meanwhile. The store awaits it before each append (outside its write lock, which a flush needs):
   * when rollups cannot keep up, ingest slows to their pace instead of queueing rows in memory without
   * bound. A failing flush does not hold appends back; its rows stay queued and are retried.
   */
  async admit(): Promise<void> {
    while (this.pastBound(PENDING_CAP)) {
      try {
        await this.flush();
      } catch {
        return;
      }
    }
  }

  /** Whether the queued rows reach `times` × maxPendingRows. */
  private pastBound(times: number): boolean {
    return this.pendingRows >= this.deps.options.maxPendingRows * times;
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
    if (this.again || this.pastBound(1)) {
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
    const slicer = new TimeSlicer(ROLLUP_SLICE_MS);
    let failure: unknown;
    for (const [name, folds] of entries) {
      for (let i = 0; i < folds.length; i++) {
        const fold = folds[i]!;
        try {
          fold.deltas ??= await fold.acc.take(slicer);
          await this.deps.target.mergeRollups(fold.layout, fold.deltas, fold.seq);
          this.pendingRows -= fold.rows;
        } catch (err) {
          failure ??= err;
          this.requeue(name, folds.slice(i));
          break;
        }
      }
    }
    stop();
    this.pending.set(this.pendingRows);
    this.flushes.inc({ outcome: failure === undefined ? 'ok' : 'failed' });
    if (failure !== undefined) throw failure;
  }

  /** Puts a failed flush's folds back ahead of anything queued since. */
  private requeue(name: string, folds: PendingFold[]): void {
    const later = this.queued.get(name) ?? [];
    this.queued.set(name, [...folds, ...later]);
  }

  /**
   * The dataset is about to be dropped: its queued rows and noted tail go with its data. Resolves once
   * no flush or recovery that took its rows is still running, so none writes after the drop.
   */
  async forget(dataset: string): Promise<void> {
    const clear = () => {
      for (const fold of this.queued.get(dataset) ?? []) this.pendingRows -= fold.rows;
      this.queued.delete(dataset);
      this.noted.delete(dataset);
      this.tails = this.tails.filter((t) => t.layout.spec.name !== dataset);
      this.pending.set(this.pendingRows);
    };
    clear();
    await Promise.allSettled([this.running, this.recovering]);
    clear();
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

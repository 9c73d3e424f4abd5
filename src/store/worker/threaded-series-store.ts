import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ColumnarBatch } from '../../core/batch.js';
import type { DatasetLayout, DatasetSpec } from '../../core/dataset.js';
import { SluiceError } from '../../core/errors.js';
import { startModuleWorker } from '../../core/module-worker.js';
import { encodeBatch } from '../../log/local/batch-codec.js';
import { DUCKDB_CAPABILITIES } from '../duckdb/duckdb-series-store.js';
import type {
  AppendResult,
  KeyFilter,
  RetentionCutoffs,
  RetentionResult,
  RollupGroup,
  RollupQuery,
  RowsQuery,
  ScanChunk,
  SeriesCapability,
  SeriesPoint,
  SeriesQuery,
  SeriesStore,
  StoredHashesQuery,
  StoredRow,
} from '../series-store.js';
import {
  fromWireError,
  fromWireGroups,
  fromWireSeries,
  type FromSeriesThread,
  type ScanCall,
  type SeriesOp,
  type SeriesThreadData,
  type SeriesWireApi,
  type ToSeriesThread,
  type WireItem,
} from './series-wire.js';

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  onChunk?: (chunk: ScanChunk) => void | Promise<void>;
}

/** DuckDB's words for a database it refuses to use again until it is reopened. */
const INVALIDATED = /database has been invalidated/i;
/** How long a failed thread gets to close its database before it is terminated. */
const CLOSE_TIMEOUT_MS = 30_000;

function wireItem(batch: ColumnarBatch, keep: Uint8Array | undefined): WireItem {
  // Batches read from the BatchLog carry their encoding; others (tests, tools) are encoded here.
  return { bytes: batch.encoded ?? encodeBatch(batch), keep };
}

/**
 * The DuckDB SeriesStore on a thread of its own (series-thread.ts), behind the same port. Every call
 * is a message; the store's JavaScript work (vector fills, rollup folding, result conversion) then
 * runs beside the event loop that serves HTTP and applies batches, which keeps query latency flat
 * while ingest runs. Errors keep their code across the boundary, so retry intent is unchanged.
 */
export class ThreadedSeriesStore implements SeriesStore {
  readonly kind = 'duckdb';
  readonly capabilities: ReadonlySet<SeriesCapability> = DUCKDB_CAPABILITIES;
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Set once the thread has died: every call then fails with it. */
  private failure: SluiceError | undefined;
  /** Datasets ensured, so a reopened store is told of them again. */
  private readonly datasets = new Map<string, DatasetSpec>();
  private reopening: Promise<void> | undefined;

  constructor(
    private data: SeriesThreadData,
    private readonly log: Logger,
  ) {}

  async init(): Promise<void> {
    if (this.worker !== undefined) return;
    const worker = startModuleWorker(import.meta.url, 'series-thread', { workerData: this.data });
    worker.unref();
    worker.on('message', (msg: FromSeriesThread) => this.receive(msg));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`the series store thread exited with code ${code}`)));
    this.worker = worker;
    this.failure = undefined;
    await this.call('init', []);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    try {
      await this.call('close', []);
    } finally {
      this.worker = undefined;
      worker.removeAllListeners();
      await worker.terminate();
      this.fail(new Error('the series store is closed'));
    }
  }

  async ensureDataset(layout: DatasetLayout): Promise<void> {
    await this.call('ensureDataset', [layout.spec]);
    this.datasets.set(layout.spec.name, layout.spec);
  }

  async dropDataset(name: string): Promise<void> {
    await this.call('dropDataset', [name]);
    this.datasets.delete(name);
  }

  async append(layout: DatasetLayout, batch: ColumnarBatch, keep?: Uint8Array): Promise<AppendResult> {
    const [result] = await this.appendMany(layout, [{ batch, keep }]);
    return result!;
  }

  appendMany(
    layout: DatasetLayout,
    items: readonly { batch: ColumnarBatch; keep?: Uint8Array }[],
  ): Promise<AppendResult[]> {
    return this.call('appendMany', [layout.spec, items.map((it) => wireItem(it.batch, it.keep))]);
  }

  isApplied(batchId: string): Promise<boolean> {
    return this.call('isApplied', [batchId]);
  }

  async series(layout: DatasetLayout, query: SeriesQuery): Promise<SeriesPoint[]> {
    return fromWireSeries(await this.call('series', [layout.spec, query]));
  }

  latest(layout: DatasetLayout, keys: KeyFilter): Promise<StoredRow | undefined> {
    return this.call('latest', [layout.spec, keys]);
  }

  latestMany(layout: DatasetLayout, keys: KeyFilter): Promise<StoredRow[]> {
    return this.call('latestMany', [layout.spec, keys]);
  }

  rows(layout: DatasetLayout, query: RowsQuery): Promise<StoredRow[]> {
    return this.call('rows', [layout.spec, query]);
  }

  scan(
    layout: DatasetLayout,
    onChunk: (chunk: ScanChunk) => void | Promise<void>,
    opts: { afterSeq?: number; throughSeq?: number } = {},
  ): Promise<void> {
    const scan: ScanCall = { spec: layout.spec, seqs: opts };
    return this.send((id) => ({ id, op: 'scan', scan }), onChunk) as Promise<void>;
  }

  count(layout: DatasetLayout): Promise<number> {
    return this.call('count', [layout.spec]);
  }

  storedHashes(layout: DatasetLayout, query: StoredHashesQuery): Promise<Float64Array | undefined> {
    return this.call('storedHashes', [layout.spec, query]);
  }

  rollupWatermark(dataset: string): Promise<number> {
    return this.call('rollupWatermark', [dataset]);
  }

  flushRollups(): Promise<void> {
    return this.call('flushRollups', []);
  }

  async readRollups(layout: DatasetLayout, query: RollupQuery): Promise<RollupGroup[]> {
    return fromWireGroups(await this.call('readRollups', [layout.spec, query]));
  }

  dropExpired(layout: DatasetLayout, cutoffs: RetentionCutoffs): Promise<RetentionResult> {
    return this.call('dropExpired', [layout.spec, cutoffs]);
  }

  /** The store thread's metrics (rollup upkeep), in the Prometheus text format. */
  metricsText(): Promise<string> {
    return this.call('metrics', []);
  }

  private call<K extends SeriesOp>(
    op: K,
    args: Parameters<SeriesWireApi[K]>,
  ): Promise<ReturnType<SeriesWireApi[K]>> {
    return this.send((id) => ({ id, op, args })) as Promise<ReturnType<SeriesWireApi[K]>>;
  }

  private send(
    message: (id: number) => ToSeriesThread,
    onChunk?: (chunk: ScanChunk) => void | Promise<void>,
  ): Promise<unknown> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const worker = this.worker;
    if (worker === undefined)
      return Promise.reject(new SluiceError('store_unavailable', 'the series store is not open'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onChunk });
      worker.postMessage(message(id));
    });
  }

  private receive(msg: FromSeriesThread): void {
    const p = this.pending.get(msg.id);
    if (p === undefined) return;
    if ('chunk' in msg) {
      // The thread reads the next chunk once this one is handled; a failing handler ends the scan.
      Promise.resolve()
        .then(() => p.onChunk?.(msg.chunk))
        .then(
          () => this.worker?.postMessage({ ack: msg.id } satisfies ToSeriesThread),
          (err: unknown) => {
            this.pending.delete(msg.id);
            this.worker?.postMessage({ ack: msg.id, failed: true } satisfies ToSeriesThread);
            p.reject(err instanceof Error ? err : new Error(String(err)));
          },
        );
      return;
    }
    this.pending.delete(msg.id);
    if (msg.ok) {
      p.resolve(msg.value);
      return;
    }
    const err = fromWireError(msg.error);
    if (!INVALIDATED.test(err.message)) {
      p.reject(err);
      return;
    }
    // Retriable: the call succeeds once the store is reopened.
    p.reject(new SluiceError('store_unavailable', err.message, { cause: err }));
    this.reopen(err);
  }

  /**
   * After a fatal error (seen when DuckDB runs out of memory mid-transaction) DuckDB refuses every
   * further query on that database. The thread closes it and a new thread opens the file again: the
   * WAL replays every committed transaction, and the rows of batches that failed meanwhile are applied
   * when the log delivers them again (their ids say whether they were stored). Calls fail as retriable
   * until then.
   */
  private reopen(cause: Error): void {
    const old = this.worker;
    if (this.reopening !== undefined || old === undefined) return;
    this.log.error({ err: cause }, 'DuckDB invalidated the series database; reopening it');
    this.worker = undefined;
    this.failure = new SluiceError(
      'store_unavailable',
      'the series store is reopening after a fatal DuckDB error',
    );
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
    // A simulated failure (tests) happens once, not again on the reopened store.
    this.data = { ...this.data, testing: undefined };
    this.reopening = (async () => {
      await this.closeThread(old);
      await this.init();
      for (const spec of this.datasets.values()) await this.call('ensureDataset', [spec]);
      this.log.warn({ datasets: this.datasets.size }, 'the series database is open again');
    })()
      .catch((err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))))
      .finally(() => (this.reopening = undefined));
  }

  /** Asks a thread to close its store (so the file is never open twice), then ends it. */
  private async closeThread(worker: Worker): Promise<void> {
    const id = this.nextId++;
    const closed = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    worker.postMessage({ id, op: 'close', args: [] } satisfies ToSeriesThread);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      closed.catch((err: unknown) => this.log.error({ err }, 'closing the invalidated database failed')),
      new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    this.pending.delete(id);
    worker.removeAllListeners();
    await worker.terminate();
  }

  private fail(err: Error): void {
    if (this.worker !== undefined) this.log.fatal({ err }, 'the series store thread failed');
    this.failure = new SluiceError('store_unavailable', `the series store thread failed: ${err.message}`, {
      cause: err,
    });
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}

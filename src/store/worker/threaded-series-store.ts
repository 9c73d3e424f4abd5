import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ColumnarBatch } from '../../core/batch.js';
import type { DatasetLayout } from '../../core/dataset.js';
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

  constructor(
    private readonly data: SeriesThreadData,
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

  ensureDataset(layout: DatasetLayout): Promise<void> {
    return this.call('ensureDataset', [layout.spec]);
  }

  dropDataset(name: string): Promise<void> {
    return this.call('dropDataset', [name]);
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
    if (msg.ok) p.resolve(msg.value);
    else p.reject(fromWireError(msg.error));
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

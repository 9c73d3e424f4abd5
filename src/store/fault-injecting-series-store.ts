import type { ColumnarBatch } from '../core/batch.js';
import type { DatasetLayout } from '../core/dataset.js';
import { SluiceError } from '../core/errors.js';
import type {
  RetentionCutoffs,
  RetentionResult,
  RollupGroup,
  RollupQuery,
  AppendResult,
  KeyFilter,
  RowsQuery,
  StoredHashesQuery,
  ScanChunk,
  SeriesCapability,
  SeriesPoint,
  SeriesQuery,
  SeriesStore,
  StoredRow,
} from './series-store.js';

/**
 * A testing aid (config `testing.fault_injection`): wraps a SeriesStore and, while switched "down",
 * fails every call with the retriable `store_unavailable` error, as a crashed or unreachable database
 * would. The pipeline must then keep records in the BatchLog and apply them once the store is back.
 */
export class FaultInjectingSeriesStore implements SeriesStore {
  private down = false;
  private downSince: number | null = null;

  constructor(private readonly inner: SeriesStore) {}

  get kind(): string {
    return this.inner.kind;
  }

  get capabilities(): ReadonlySet<SeriesCapability> {
    return this.inner.capabilities;
  }

  /** Switches the simulated outage on or off. */
  setDown(down: boolean): void {
    this.down = down;
    this.downSince = down ? (this.downSince ?? Date.now()) : null;
  }

  status(): { down: boolean; since: string | null } {
    return {
      down: this.down,
      since: this.downSince === null ? null : new Date(this.downSince).toISOString(),
    };
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  ensureDataset(layout: DatasetLayout): Promise<void> {
    return this.guard(() => this.inner.ensureDataset(layout));
  }

  dropDataset(name: string): Promise<void> {
    return this.guard(() => this.inner.dropDataset(name));
  }

  append(layout: DatasetLayout, batch: ColumnarBatch, keep?: Uint8Array): Promise<AppendResult> {
    return this.guard(() => this.inner.append(layout, batch, keep));
  }

  appendMany(
    layout: DatasetLayout,
    items: readonly { batch: ColumnarBatch; keep?: Uint8Array }[],
  ): Promise<AppendResult[]> {
    return this.guard(() => this.inner.appendMany(layout, items));
  }

  isApplied(batchId: string): Promise<boolean> {
    return this.guard(() => this.inner.isApplied(batchId));
  }

  series(layout: DatasetLayout, query: SeriesQuery): Promise<SeriesPoint[]> {
    return this.guard(() => this.inner.series(layout, query));
  }

  latest(layout: DatasetLayout, keys: KeyFilter): Promise<StoredRow | undefined> {
    return this.guard(() => this.inner.latest(layout, keys));
  }

  latestMany(layout: DatasetLayout, keys: KeyFilter): Promise<StoredRow[]> {
    return this.guard(() => this.inner.latestMany(layout, keys));
  }

  scan(
    layout: DatasetLayout,
    onChunk: (chunk: ScanChunk) => void | Promise<void>,
    opts?: { afterSeq?: number; throughSeq?: number },
  ): Promise<void> {
    return this.guard(() => this.inner.scan(layout, onChunk, opts));
  }

  rollupWatermark(dataset: string): Promise<number> {
    return this.guard(() => this.inner.rollupWatermark(dataset));
  }

  flushRollups(): Promise<void> {
    return this.guard(() => this.inner.flushRollups());
  }

  readRollups(layout: DatasetLayout, query: RollupQuery): Promise<RollupGroup[]> {
    return this.guard(() => this.inner.readRollups(layout, query));
  }

  dropExpired(layout: DatasetLayout, cutoffs: RetentionCutoffs): Promise<RetentionResult> {
    return this.guard(() => this.inner.dropExpired(layout, cutoffs));
  }

  count(layout: DatasetLayout): Promise<number> {
    return this.guard(() => this.inner.count(layout));
  }

  storedHashes(layout: DatasetLayout, query: StoredHashesQuery): Promise<Float64Array | undefined> {
    return this.guard(() => this.inner.storedHashes(layout, query));
  }

  get rows(): ((layout: DatasetLayout, query: RowsQuery) => Promise<StoredRow[]>) | undefined {
    const inner = this.inner;
    if (!inner.rows) return undefined;
    return (layout, query) => this.guard(() => inner.rows!(layout, query));
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.down)
      throw new SluiceError('store_unavailable', 'The SeriesStore is down (fault injection)', {
        retryAfter: 1,
      });
    return fn();
  }
}

import type { Logger } from 'pino';
import type { ColumnarBatch } from '../core/batch.js';
import type { DatasetLayout } from '../core/dataset.js';
import type { DatasetRegistry } from '../core/dataset-registry.js';
import type { FinishHook } from '../ingest/uploads/upload-lifecycle.js';
import { StatsSnapshot } from '../query/stats-snapshot.js';
import type { KeyedRecord, MetaStore, UploadRow } from '../store/meta-store.js';

/**
 * Replace mode: each upload builds a new version beside the current one, with its own statistics
 * snapshot. When the upload is done the version is published in one MetaStore transaction and the
 * snapshot swapped in the same tick, so readers see the old version or the new one, never a mix.
 * A newer upload that finished first wins: an older one that finishes later is dropped as superseded.
 * The old version's storage is dropped right after the swap, and so is a failed or cancelled one's.
 */
export class ReplaceVersions implements FinishHook {
  /** Pending snapshots of versions being built, by upload id. */
  private readonly building = new Map<string, StatsSnapshot>();
  /**
   * The swaps and drops of each dataset, one at a time: publishing waits for the version's storage to
   * be sealed, and the superseded check of one upload must see the outcome of another's swap.
   */
  private readonly turns = new Map<string, Promise<void>>();

  constructor(
    private readonly meta: MetaStore,
    private readonly registry: DatasetRegistry,
    private readonly snapshot: StatsSnapshot,
    private readonly log: Logger,
  ) {}

  /**
   * Folds rows newly applied to an upload's version into that version's pending snapshot, skipping
   * the rows the store dropped as duplicates (`keep`: the first row of a key wins). A pending snapshot
   * starts at batch 0; after a restart mid-build there is none, and `beforeDone` scans the version.
   */
  addRows(uploadId: string, layout: DatasetLayout, batch: ColumnarBatch, keep: Uint8Array | undefined): void {
    let pending = this.building.get(uploadId);
    if (!pending) {
      if (batch.seq !== 0) return;
      // The layout is replace mode, so the snapshot keeps whole-dataset statistics only, as the live
      // one does (`keepsPerKeyStats`); per-key accumulators here would cost hundreds of bytes a row.
      pending = new StatsSnapshot();
      this.building.set(uploadId, pending);
    }
    pending.add(layout, batch, keep);
  }

  async beforeDone(row: UploadRow): Promise<void> {
    const layout = this.registry.find(row.dataset)?.layout;
    if (!layout || layout.spec.mode !== 'replace' || row.version === null) return;
    await this.inTurn(row.dataset, () => this.publish(row, layout, row.version!));
  }

  async onAbandon(row: UploadRow): Promise<void> {
    this.building.delete(row.id);
    const layout = this.registry.find(row.dataset)?.layout;
    const version = row.version;
    if (!layout || layout.spec.mode !== 'replace' || version === null) return;
    await this.inTurn(row.dataset, async () => {
      if ((await this.meta.currentVersion(row.dataset)) !== version)
        await this.meta.dropVersion(row.dataset, version);
    });
  }

  private async publish(row: UploadRow, layout: DatasetLayout, version: number): Promise<void> {
    const current = await this.meta.currentVersion(row.dataset);
    if (current !== null && current > version) {
      this.log.info({ upload: row.id, version, current }, 'replace upload superseded by a newer one');
      this.building.delete(row.id);
      await this.meta.dropVersion(row.dataset, version);
      const error = `superseded: a newer upload of '${row.dataset}' was published first, so this version was not`;
      await this.meta.updateUpload(row.id, { error });
      row.error = error;
      return;
    }
    // A restart while building loses the pending snapshot: rebuild it from the version itself.
    const pending = this.building.get(row.id) ?? (await this.snapshotOf(layout, version));
    // The pointer and the lookup connection swap in publishVersion's last synchronous step; the
    // snapshot follows before any other task (a request) runs, so no reader sees one without the other.
    const previous = await this.meta.publishVersion(row.dataset, version);
    this.snapshot.replace(row.dataset, pending);
    this.building.delete(row.id);
    if (previous !== null && previous !== version) await this.meta.dropVersion(row.dataset, previous);
    this.log.info({ upload: row.id, dataset: row.dataset, version, previous }, 'published version');
  }

  private inTurn(dataset: string, fn: () => Promise<void>): Promise<void> {
    const run = (this.turns.get(dataset) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => undefined);
    this.turns.set(dataset, tail);
    void tail.then(() => {
      if (this.turns.get(dataset) === tail) this.turns.delete(dataset);
    });
    return run;
  }

  /**
   * Drops versions that nothing will publish: left by a crash between publishing and dropping the
   * previous version, or by an upload that ended while the process was down. Runs at start.
   */
  async sweep(unfinished: readonly UploadRow[]): Promise<void> {
    for (const { layout } of this.registry.list()) {
      if (layout.spec.mode !== 'replace') continue;
      const name = layout.spec.name;
      const keep = new Set(unfinished.filter((u) => u.dataset === name).map((u) => u.version));
      keep.add(await this.meta.currentVersion(name));
      for (const v of await this.meta.listVersions(name)) {
        if (keep.has(v)) continue;
        await this.meta.dropVersion(name, v);
        this.log.info({ dataset: name, version: v }, 'dropped an orphaned version');
      }
    }
  }

  /** The statistics of one stored version, by scanning it. */
  async snapshotOf(layout: DatasetLayout, version: number): Promise<StatsSnapshot> {
    const snap = new StatsSnapshot();
    await this.meta.scanRecords(layout, version, (records) =>
      snap.add(layout, recordsToColumns(layout, records)),
    );
    return snap;
  }
}

function recordsToColumns(
  layout: DatasetLayout,
  records: KeyedRecord[],
): { length: number; keys: string[][]; timeUs: Float64Array | null; fields: Float64Array[] } {
  const n = records.length;
  const keys = layout.keys.map((_, k) => records.map((r) => r.keys[k] ?? ''));
  const timeUs = layout.time ? Float64Array.from(records, (r) => r.timeUs ?? NaN) : null;
  const fields = layout.fields.map((_, f) => Float64Array.from(records, (r) => r.fields[f] ?? NaN));
  return { length: n, keys, timeUs, fields };
}

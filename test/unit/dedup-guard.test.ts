import { describe, expect, it } from 'vitest';
import type { ColumnarBatch } from '../../src/core/batch.js';
import { datasetSchema, layoutOf, type DatasetLayout } from '../../src/core/dataset.js';
import { DedupGuard } from '../../src/apply/dedup-guard.js';
import type { SeriesStore, StoredHashesQuery, StoredRow } from '../../src/store/series-store.js';

const MIN_US = 60_000_000;

function layout(dedup: 'content' | 'key'): DatasetLayout {
  return layoutOf(
    datasetSchema.parse({
      name: 'r',
      dedup,
      columns: [
        { name: 'k', role: 'key' },
        { name: 'ts', type: 'time', role: 'time' },
        { name: 'v', type: 'number', role: 'field' },
      ],
    }),
  );
}

/** A store that keeps (hash, time) pairs and counts how often the guard asks it. */
class HashStore {
  rows: { hash: number; timeUs: number }[] = [];
  /** storedHashes calls. */
  queries = 0;
  latestCalls = 0;

  add(batch: ColumnarBatch, keep: Uint8Array): void {
    for (let i = 0; i < batch.length; i++)
      if (keep[i] === 1) this.rows.push({ hash: batch.hashes![i]!, timeUs: batch.timeUs![i]! });
  }

  asStore(): SeriesStore {
    return {
      storedHashes: (_l: DatasetLayout, q: StoredHashesQuery) => {
        this.queries++;
        let rows = this.rows;
        if (q.time === null) rows = rows.filter((r) => Number.isNaN(r.timeUs));
        else if (q.time) rows = rows.filter((r) => r.timeUs >= q.time!.fromUs && r.timeUs < q.time!.toUs);
        if (q.among) rows = rows.filter((r) => q.among!.includes(r.hash));
        return Promise.resolve(Float64Array.from(rows, (r) => r.hash));
      },
      latest: () => {
        this.latestCalls++;
        const timed = this.rows.filter((r) => !Number.isNaN(r.timeUs));
        if (this.rows.length === 0) return Promise.resolve(undefined);
        const t = timed.length === 0 ? null : Math.max(...timed.map((r) => r.timeUs));
        return Promise.resolve({ timeUs: t } as StoredRow);
      },
    } as unknown as SeriesStore;
  }
}

function batch(hashes: number[], times: number[]): ColumnarBatch {
  return {
    id: 'b',
    dataset: 'r',
    source: 's',
    seq: 0,
    length: hashes.length,
    keys: [hashes.map(String)],
    timeUs: Float64Array.from(times),
    fields: [new Float64Array(hashes.length)],
    payloads: [],
    attributes: [],
    timeText: null,
    hashes: Float64Array.from(hashes),
    lines: new Float64Array(hashes.length),
    totalRows: hashes.length,
    rejects: [],
    end: { offset: 0, line: 0 },
  };
}

/** Masks and commits a batch the way the Applier does. */
async function apply(guard: DedupGuard, store: HashStore, b: ColumnarBatch): Promise<number[]> {
  const keep = await guard.mask(b);
  store.add(b, keep);
  guard.commit(b, keep);
  return [...keep];
}

describe('DedupGuard', () => {
  it('keeps memory bounded on an in-order stream and never asks the store for new rows', async () => {
    const store = new HashStore();
    const guard = new DedupGuard(layout('content'), store.asStore(), 8192);
    let hash = 1;
    for (let b = 0; b < 40; b++) {
      const hashes = Array.from({ length: 1000 }, () => hash++);
      const times = hashes.map((h) => h * MIN_US);
      // Every tenth row repeats the one before it: a duplicate within memory.
      for (let i = 9; i < hashes.length; i += 10) {
        hashes[i] = hashes[i - 1]!;
        times[i] = times[i - 1]!;
      }
      const keep = await apply(guard, store, batch(hashes, times));
      expect(keep.filter((k) => k === 0).length).toBe(100);
      expect(guard.residentRows).toBeLessThanOrEqual(8192 + 2048);
    }
    // Once, at first use, for the latest stored time; never for stored hashes.
    expect(store.latestCalls).toBe(1);
    expect(store.queries).toBe(0);
    expect(store.rows.length).toBe(36_000);
  });

  it('finds repeats of rows that left memory, and of rows stored before a restart, in the store', async () => {
    const store = new HashStore();
    const first = new DedupGuard(layout('content'), store.asStore(), 4096);
    const old = Array.from({ length: 3000 }, (_, i) => i + 1);
    const at = (hashes: number[]) => hashes.map((h) => h * MIN_US);
    await apply(first, store, batch(old, at(old)));
    for (let b = 1; b <= 10; b++) {
      const fresh = Array.from({ length: 1000 }, (_, i) => b * 10_000 + i);
      await apply(first, store, batch(fresh, at(fresh)));
    }
    expect(first.residentRows).toBeLessThan(old.length + 10_000);
    // The old file again, plus two new rows among the old times: only those are kept.
    const again = [...old.slice(0, 500), 5_000_001, 5_000_002];
    const againTimes = [...at(old.slice(0, 500)), 17 * MIN_US + 1, 33 * MIN_US + 1];
    const queries = store.queries;
    const keep = await apply(first, store, batch(again, againTimes));
    expect(keep.slice(0, 500).every((k) => k === 0)).toBe(true);
    expect(keep.slice(500)).toEqual([1, 1]);
    expect(store.queries).toBe(queries + 1);

    const restarted = new DedupGuard(layout('content'), store.asStore(), 4096);
    expect(
      await apply(restarted, store, batch([7, 10_005, 9_999_999], [7 * MIN_US, 10_005 * MIN_US, 1e14])),
    ).toEqual([0, 0, 1]);
    // Past the latest stored time nothing is cold: a new row costs no store query.
    const after = store.queries;
    expect(await apply(restarted, store, batch([9_999_998], [2e14]))).toEqual([1]);
    expect(store.queries).toBe(after);
  });

  it('matches keys across all time for key dedup, loading the stored keys first', async () => {
    const store = new HashStore();
    const guard = new DedupGuard(layout('key'), store.asStore(), 4096);
    expect(await apply(guard, store, batch([1, 2, 1], [MIN_US, 2 * MIN_US, 3 * MIN_US]))).toEqual([1, 1, 0]);
    expect(await apply(guard, store, batch([2, 3], [1e12, 2e12]))).toEqual([0, 1]);
    const restarted = new DedupGuard(layout('key'), store.asStore(), 4096);
    expect(await apply(restarted, store, batch([3, 4], [9e12, 1]))).toEqual([0, 1]);
  });

  it('deduplicates rows without a time, also after a restart', async () => {
    const store = new HashStore();
    const guard = new DedupGuard(layout('content'), store.asStore(), 4096);
    expect(await apply(guard, store, batch([1, 2, 2], [NaN, NaN, NaN]))).toEqual([1, 1, 0]);
    expect(await apply(guard, store, batch([2, 3], [NaN, NaN]))).toEqual([0, 1]);
    const restarted = new DedupGuard(layout('content'), store.asStore(), 4096);
    expect(await apply(restarted, store, batch([3, 4], [NaN, NaN]))).toEqual([0, 1]);
  });
});

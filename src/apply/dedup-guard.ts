import type { ColumnarBatch } from '../core/batch.js';
import type { DatasetLayout } from '../core/dataset.js';
import type { SeriesStore } from '../store/series-store.js';
import { DedupIndex } from './dedup-index.js';
import { TimeIntervals } from './time-intervals.js';

/**
 * Hash tables kept in memory; the oldest leaves when a new one starts past the bound. Many small
 * tables rather than a few large ones: an in-order stream probes only the newest, which then stays
 * in the CPU caches.
 */
const GENERATIONS = 16;

/** Hashes of rows applied one after another, and the event times they span. */
interface Generation {
  readonly index: DedupIndex;
  minUs: number;
  maxUs: number;
  untimed: boolean;
}

/**
 * Tells which rows of an append-mode dataset are new, with memory bounded by about `maxRows`
 * hashes whatever the dataset's size.
 *
 * Content hashes include the row's time, so a duplicate has its original's time. Hashes are kept in
 * a few generations, in the order rows are applied; past the bound the oldest generation leaves
 * memory and the event-time span it covered becomes cold. A row whose time is in no cold span can
 * only repeat a row still in memory. A row in a cold span (an old file uploaded again, or any past
 * row after a restart, before which every stored time is cold) is checked against the store, one
 * query per batch over the span of such rows. In-order streams never wait for the store.
 *
 * Key dedup matches keys across all time, so it keeps every hash (the store's, loaded on first use).
 */
export class DedupGuard {
  private readonly gens: Generation[] = [];
  private readonly cold = new TimeIntervals();
  private coldUntimed = false;
  private seeded = false;
  private readonly perGeneration: number;
  /** Content dedup: a hash can only be in a generation whose time span holds the row's time. */
  private readonly byTime: boolean;

  constructor(
    readonly layout: DatasetLayout,
    private readonly store: SeriesStore,
    maxRows: number,
  ) {
    this.byTime = layout.spec.dedup !== 'key';
    this.perGeneration = this.byTime ? Math.max(256, Math.ceil(maxRows / GENERATIONS)) : Infinity;
  }

  /** Hashes held in memory. */
  get residentRows(): number {
    return this.gens.reduce((n, g) => n + g.index.size, 0);
  }

  /** 1 for rows of `batch` new to the store, 0 for rows already stored or repeated in the batch. */
  async mask(batch: ColumnarBatch): Promise<Uint8Array> {
    await this.seed();
    const n = batch.length;
    const hashes = batch.hashes!;
    const time = this.byTime ? batch.timeUs : null;
    const keep = new Uint8Array(n);
    const seen = new DedupIndex(n);
    const probe: number[] = [];
    for (let i = 0; i < n; i++) {
      const h = hashes[i]!;
      if (!seen.add(h)) continue; // repeated in this batch
      const t = time === null ? NaN : time[i]!;
      if (this.inMemory(h, t)) continue;
      if (t === t ? this.cold.contains(t) : this.coldUntimed) probe.push(i);
      else keep[i] = 1;
    }
    if (probe.length > 0) await this.probeStore(batch, probe, keep);
    return keep;
  }

  /** Records the kept rows once their batch is stored. */
  commit(batch: ColumnarBatch, keep: Uint8Array): void {
    const hashes = batch.hashes!;
    const time = batch.timeUs;
    let gen = this.current();
    for (let i = 0; i < batch.length; i++) {
      if (keep[i] !== 1) continue;
      if (gen.index.size >= this.perGeneration) gen = this.current();
      gen.index.add(hashes[i]!);
      const t = time === null ? NaN : time[i]!;
      if (t !== t) gen.untimed = true;
      else {
        if (t < gen.minUs) gen.minUs = t;
        if (t > gen.maxUs) gen.maxUs = t;
      }
    }
  }

  private inMemory(hash: number, t: number): boolean {
    for (let g = this.gens.length - 1; g >= 0; g--) {
      const gen = this.gens[g]!;
      // A generation whose span cannot hold the time cannot hold the hash either.
      if (this.byTime && (t === t ? t < gen.minUs || t > gen.maxUs : !gen.untimed)) continue;
      if (gen.index.has(hash)) return true;
    }
    return false;
  }

  /** The generation that takes new hashes; starting one past the bound retires the oldest. */
  private current(): Generation {
    let gen = this.gens[this.gens.length - 1];
    if (gen === undefined || gen.index.size >= this.perGeneration) {
      // Sized for a full generation up front, so it never pauses to grow (key dedup: one, growing).
      const index = Number.isFinite(this.perGeneration)
        ? new DedupIndex(this.perGeneration)
        : new DedupIndex();
      gen = { index, minUs: Infinity, maxUs: -Infinity, untimed: false };
      this.gens.push(gen);
      if (this.gens.length > GENERATIONS) {
        const old = this.gens.shift()!;
        if (old.minUs <= old.maxUs) this.cold.add(old.minUs, old.maxUs);
        if (old.untimed) this.coldUntimed = true;
      }
    }
    return gen;
  }

  /** Marks as kept the probed rows whose hash the store does not hold. */
  private async probeStore(batch: ColumnarBatch, rows: number[], keep: Uint8Array): Promise<void> {
    const hashes = batch.hashes!;
    const time = this.byTime ? batch.timeUs : null;
    const timed: number[] = [];
    const untimed: number[] = [];
    for (const i of rows) (time !== null && time[i] === time[i] ? timed : untimed).push(i);
    const stored = new Set<number>();
    if (timed.length > 0) {
      let lo = Infinity;
      let hi = -Infinity;
      for (const i of timed) {
        lo = Math.min(lo, time![i]!);
        hi = Math.max(hi, time![i]!);
      }
      const among = Float64Array.from(timed, (i) => hashes[i]!);
      for (const h of (await this.store.storedHashes(this.layout, {
        time: { fromUs: lo, toUs: hi + 1 },
        among,
      }))!)
        stored.add(h);
    }
    if (untimed.length > 0) {
      const among = Float64Array.from(untimed, (i) => hashes[i]!);
      const q = this.byTime ? { time: null, among } : { among };
      for (const h of (await this.store.storedHashes(this.layout, q))!) stored.add(h);
    }
    for (const i of rows) if (!stored.has(hashes[i]!)) keep[i] = 1;
  }

  /**
   * On first use after a start: what the store holds is cold, up to its latest time. Key dedup loads
   * every stored hash instead.
   */
  private async seed(): Promise<void> {
    if (this.seeded) return;
    if (!this.byTime) {
      const stored = (await this.store.storedHashes(this.layout, {}))!;
      const gen = this.current();
      for (const h of stored) gen.index.add(h);
    } else {
      const latest = await this.store.latest(this.layout, {});
      if (latest !== undefined) {
        this.coldUntimed = true;
        if (latest.timeUs !== null) this.cold.add(-Infinity, latest.timeUs);
      }
    }
    this.seeded = true;
  }
}

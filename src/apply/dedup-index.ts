/**
 * A set of 53-bit row hashes (never 0) in one open-addressing Float64Array: 8 bytes a row, no
 * per-entry objects, so 10M rows cost ~128 MiB instead of the ~400 MiB of a JS Set. A collision of
 * two distinct rows has odds of about n²/2^54 (1 in 10^4 at 10^9 rows) and would drop one of them
 * as a duplicate; docs/architecture.md records this trade-off.
 */
export class DedupIndex {
  private slots: Float64Array;
  private mask: number;
  private count = 0;

  constructor(initialCapacity = 1024) {
    let cap = 1024;
    while (cap < initialCapacity * 2) cap *= 2;
    this.slots = new Float64Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  has(hash: number): boolean {
    const slots = this.slots;
    let i = slotOf(hash) & this.mask;
    for (;;) {
      const v = slots[i]!;
      if (v === 0) return false;
      if (v === hash) return true;
      i = (i + 1) & this.mask;
    }
  }

  /** Adds the hash; returns false when it was already present. */
  add(hash: number): boolean {
    if ((this.count + 1) * 4 > this.slots.length * 3) this.grow();
    const slots = this.slots;
    let i = slotOf(hash) & this.mask;
    for (;;) {
      const v = slots[i]!;
      if (v === 0) {
        slots[i] = hash;
        this.count++;
        return true;
      }
      if (v === hash) return false;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Float64Array(old.length * 2);
    this.mask = this.slots.length - 1;
    this.count = 0;
    for (let i = 0; i < old.length; i++) if (old[i] !== 0) this.add(old[i]!);
  }
}

/** Low bits of a 53-bit hash mixed with its high bits, so either half spreads across slots. */
function slotOf(hash: number): number {
  const hi = Math.floor(hash / 4294967296);
  return (hash ^ Math.imul(hi, 0x9e3779b1)) >>> 0;
}

/**
 * Decides which rows of a batch are new: not in the index and not repeated earlier in the batch.
 * Does not change the index; call `commit` once the batch is durably applied.
 */
export function dedupMask(index: DedupIndex, hashes: Float64Array, length: number): Uint8Array {
  const keep = new Uint8Array(length);
  const inBatch = new DedupIndex(length);
  for (let i = 0; i < length; i++) {
    const h = hashes[i]!;
    keep[i] = !index.has(h) && inBatch.add(h) ? 1 : 0;
  }
  return keep;
}

export function commitMask(index: DedupIndex, hashes: Float64Array, keep: Uint8Array): void {
  for (let i = 0; i < keep.length; i++) if (keep[i] === 1) index.add(hashes[i]!);
}

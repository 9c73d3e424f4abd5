/**
 * A set of 53-bit row hashes (never 0) in one open-addressing Float64Array: 8 bytes a row, no
 * per-entry objects, so 10M rows cost ~128 MiB instead of the ~400 MiB of a JS Set. A collision of
 * two distinct rows has odds of about n²/2^54 (1 in 10^4 at 10^9 rows) and would drop one of them
 * as a duplicate; docs/architecture.md records this trade-off.
 *
 * Growth is incremental. Rehashing millions of entries at once blocks the event loop for hundreds
 * of milliseconds (queries share it with ingest), so when the table fills, a table twice the size
 * takes new entries and every later `add` or `has` copies the next `MIGRATE_SLOTS` slots of the old
 * table into it. The old table is only read, never emptied slot by slot (that would break its probe
 * chains), so a lookup probes both tables until the copy is done and the old one is dropped.
 */

/**
 * Old-table slots copied per call while a migration runs. Small on purpose: a batch makes thousands
 * of calls in one event-loop task, so a large step would redo the whole rehash in that task. Any
 * value above 4/3 finishes the copy before the new table (twice the size, 0 entries of its own)
 * fills, because copying C slots takes C/8 calls and filling takes at least 3C/4 new entries.
 */
const MIGRATE_SLOTS = 8;
const MIN_CAPACITY = 1024;
/** Float64 slots in a 4 KiB memory page. */
const SLOTS_PER_PAGE = 512;

export class DedupIndex {
  private slots: Float64Array;
  private slotMask: number;
  /** The previous table while its entries are copied over, else null. */
  private old: Float64Array | null = null;
  private oldMask = 0;
  /** Next slot of `old` to copy. */
  private migrated = 0;
  /** Entries in both tables together (an entry lives in exactly one of them). */
  private count = 0;
  /** Entries in `slots` alone, which decides when it must grow. */
  private fill = 0;
  /** The table the next growth will use, allocated early and touched page by page; see prepareNext. */
  private next: Float64Array | null = null;
  private prefaulted = 0;

  constructor(initialCapacity = MIN_CAPACITY) {
    this.slots = new Float64Array(capacityFor(initialCapacity));
    this.slotMask = this.slots.length - 1;
  }

  get size(): number {
    return this.count;
  }

  /** True while a growth is being spread over calls (tests use it). */
  get migrating(): boolean {
    return this.old !== null;
  }

  has(hash: number): boolean {
    if (this.old !== null) {
      this.migrateStep();
      if (this.old !== null && probe(this.old, this.oldMask, hash) >= 0) return true;
    }
    return probe(this.slots, this.slotMask, hash) >= 0;
  }

  /** Adds the hash; returns false when it was already present. */
  add(hash: number): boolean {
    if (this.old !== null) {
      this.migrateStep();
      if (this.old !== null && probe(this.old, this.oldMask, hash) >= 0) return false;
    }
    if (this.old === null) this.prepareNext();
    if ((this.fill + 1) * 4 > this.slots.length * 3) this.startGrowth();
    const slots = this.slots;
    const mask = this.slotMask;
    let i = slotOf(hash) & mask;
    for (;;) {
      const v = slots[i]!;
      if (v === 0) {
        slots[i] = hash;
        this.fill++;
        this.count++;
        return true;
      }
      if (v === hash) return false;
      i = (i + 1) & mask;
    }
  }

  /**
   * From 5/8 full, the next table is allocated and its pages are touched one per call. A fresh
   * table's memory is mapped lazily, so without this the page faults of a large table (~80 ms for
   * 128 MiB) would all land in the first batch written after the growth. From 5/8 to 3/4 full takes
   * C/8 calls for a table of C slots, and the next table has C/256 pages, so it is touched in time.
   * Starting no earlier keeps the next table's memory unclaimed until a growth is near.
   */
  private prepareNext(): void {
    if (this.fill * 8 < this.slots.length * 5) return;
    if (this.next === null) {
      this.next = new Float64Array(this.slots.length * 2);
      this.prefaulted = 0;
    }
    if (this.prefaulted < this.next.length) {
      this.next[this.prefaulted] = 0;
      this.prefaulted += SLOTS_PER_PAGE;
    }
  }

  private startGrowth(): void {
    // A growth due before the previous one finished is rare (the copy needs far fewer calls than the
    // fill takes); finishing the copy first keeps at most two tables alive.
    if (this.old !== null) this.finishMigration();
    this.old = this.slots;
    this.oldMask = this.slotMask;
    this.migrated = 0;
    this.slots = this.next ?? new Float64Array(this.old.length * 2);
    this.next = null;
    this.slotMask = this.slots.length - 1;
    this.fill = 0;
    this.migrateStep();
  }

  private migrateStep(): void {
    const old = this.old!;
    const end = Math.min(old.length, this.migrated + MIGRATE_SLOTS);
    const slots = this.slots;
    const mask = this.slotMask;
    let moved = 0;
    for (let i = this.migrated; i < end; i++) {
      const h = old[i]!;
      if (h === 0) continue;
      // Entries of the old table are never added to the new one directly, so the probe ends empty.
      slots[~probe(slots, mask, h)] = h;
      moved++;
    }
    this.fill += moved;
    this.migrated = end;
    if (end === old.length) this.old = null;
  }

  private finishMigration(): void {
    while (this.old !== null) this.migrateStep();
  }
}

function capacityFor(entries: number): number {
  let cap = MIN_CAPACITY;
  while (cap < entries * 2) cap *= 2;
  return cap;
}

/** Slot holding `hash`, or the bitwise complement of the empty slot where it would go. */
function probe(slots: Float64Array, mask: number, hash: number): number {
  let i = slotOf(hash) & mask;
  for (;;) {
    const v = slots[i]!;
    if (v === 0) return ~i;
    if (v === hash) return i;
    i = (i + 1) & mask;
  }
}

/** Low bits of a 53-bit hash mixed with its high bits, so either half spreads across slots. */
function slotOf(hash: number): number {
  const hi = Math.floor(hash / 4294967296);
  return hash ^ Math.imul(hi, 0x9e3779b1);
}

import { mulberry32 } from './random.js';

/** Grows a typed array by doubling. */
class Column<T extends Float64Array | Int32Array | Uint8Array> {
  constructor(
    public data: T,
    private readonly make: (n: number) => T,
  ) {}

  set(i: number, v: number): void {
    if (i >= this.data.length) {
      const next = this.make(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[i] = v;
  }
}

export interface PacketOptions {
  cars?: number;
  /** Share of packets that repeat an earlier packet (same car_id, rtc_time, data; keys reordered). */
  duplicateShare?: number;
  /** Share of packets that share car_id and rtc_time with the previous one, with other fields. */
  siblingShare?: number;
  seed?: number;
}

/**
 * The provider's packet feed, position by position (the cursor is the position). Packets are kept as
 * a few numbers each and rendered to JSON on demand, so an hour at full rate (~720k) stays small.
 */
export class PacketStore {
  private readonly releasedAt = new Column(new Float64Array(1024), (n) => new Float64Array(n));
  private readonly car = new Column(new Int32Array(1024), (n) => new Int32Array(n));
  private readonly rtc = new Column(new Float64Array(1024), (n) => new Float64Array(n));
  /** Position whose values the packet carries (itself, or the original it repeats). */
  private readonly valuesOf = new Column(new Int32Array(1024), (n) => new Int32Array(n));
  /** 0: motion fields; 1: odometer fields (a sibling); +2: keys reordered (a repeat). */
  private readonly variant = new Column(new Uint8Array(1024), (n) => new Uint8Array(n));
  private readonly random: () => number;
  private readonly cars: number;
  private readonly dupShare: number;
  private readonly sibShare: number;
  length = 0;
  distinct = 0;
  duplicates = 0;

  constructor(opts: PacketOptions = {}) {
    this.random = mulberry32(opts.seed ?? 7);
    this.cars = opts.cars ?? 500;
    this.dupShare = opts.duplicateShare ?? 0.02;
    this.sibShare = opts.siblingShare ?? 0.02;
  }

  /** Releases one packet at `at` (ms since the epoch). */
  release(at: number): void {
    const i = this.length++;
    this.releasedAt.set(i, at);
    const r = this.random();
    if (i > 0 && r < this.dupShare) {
      const of = i - 1 - Math.floor(this.random() * Math.min(i, 50));
      this.car.set(i, this.car.data[of]!);
      this.rtc.set(i, this.rtc.data[of]!);
      this.valuesOf.set(i, this.valuesOf.data[of]!);
      this.variant.set(i, (this.variant.data[of]! & 1) | 2);
      this.duplicates++;
      return;
    }
    this.distinct++;
    this.valuesOf.set(i, i);
    if (i > 0 && r < this.dupShare + this.sibShare) {
      const prev = i - 1;
      this.car.set(i, this.car.data[prev]!);
      this.rtc.set(i, this.rtc.data[prev]!);
      this.variant.set(i, (this.variant.data[prev]! & 1) ^ 1);
      return;
    }
    this.car.set(i, Math.floor(this.random() * this.cars));
    this.rtc.set(i, Math.floor(at));
    this.variant.set(i, 0);
  }

  releasedAtOf(i: number): number {
    return this.releasedAt.data[i]!;
  }

  /** The packet at position `i` as a JSON object (key order reversed for repeats). */
  packet(i: number): Record<string, unknown> {
    const v = this.valuesOf.data[i]!;
    const variant = this.variant.data[i]!;
    const seed = mulberry32(v + 1);
    const data: Record<string, number> =
      (variant & 1) === 0
        ? {
            speed_kmh: Math.round(seed() * 1300) / 10,
            lat: Math.round((45 + seed()) * 1e5) / 1e5,
            lon: Math.round((7 + seed()) * 1e5) / 1e5,
            heading: Math.floor(seed() * 360),
          }
        : { odometer_km: Math.round(seed() * 2e6) / 10, fuel_pct: Math.round(seed() * 1000) / 10 };
    const p = { car_id: `car-${this.car.data[i]}`, rtc_time: this.rtc.data[i]!, data };
    return variant & 2 ? reversed({ ...p, data: reversed(data) }) : p;
  }
}

function reversed<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).reverse()) as T;
}

import { mulberry32 } from './random.js';

/**
 * The telematics provider's traffic: a steady base rate plus bursts at 1,000–10,000 packets/s
 * (log-uniform) lasting 0.5–3 s, spaced so that the mean over an hour is `meanPerSecond`. Deterministic
 * from a seed, generated in 100 ms slots as the clock advances. `scale` multiplies every rate (tests run
 * the same shape at a tenth of the volume).
 */
export interface TrafficOptions {
  meanPerSecond?: number;
  /** Share of the mean that arrives outside bursts. */
  baseShare?: number;
  burstMin?: number;
  burstMax?: number;
  scale?: number;
  seed?: number;
}

export const SLOT_MS = 100;
const BURST_MIN_S = 0.5;
const BURST_MAX_S = 3;

export class TelematicsTraffic {
  private readonly random: () => number;
  private readonly basePerSlot: number;
  private readonly burstMin: number;
  private readonly burstMax: number;
  private readonly meanGapMs: number;
  private nextBurstAt: number;
  private burstStart = 0;
  private burstEnd = 0;
  private burstRate = 0;

  constructor(
    private readonly origin: number,
    opts: TrafficOptions = {},
  ) {
    const scale = opts.scale ?? 1;
    const mean = (opts.meanPerSecond ?? 200) * scale;
    const base = mean * (opts.baseShare ?? 0.5);
    this.burstMin = (opts.burstMin ?? 1_000) * scale;
    this.burstMax = (opts.burstMax ?? 10_000) * scale;
    this.random = mulberry32(opts.seed ?? 1);
    this.basePerSlot = (base * SLOT_MS) / 1000;
    // Mean packets per burst: mean log-uniform rate times mean duration.
    const meanRate = (this.burstMax - this.burstMin) / Math.log(this.burstMax / this.burstMin);
    const perBurst = meanRate * ((BURST_MIN_S + BURST_MAX_S) / 2);
    this.meanGapMs = mean > base ? (perBurst / (mean - base)) * 1000 : Number.POSITIVE_INFINITY;
    this.nextBurstAt = origin + this.exp(this.meanGapMs);
  }

  /** Packets released in the slot starting at `slotStart` (slots are asked for in order). */
  countIn(slotStart: number): number {
    const slotEnd = slotStart + SLOT_MS;
    let expected = this.basePerSlot;
    while (this.nextBurstAt < slotEnd) {
      this.burstRate = this.burstMin * Math.pow(this.burstMax / this.burstMin, this.random());
      const durationMs = (BURST_MIN_S + this.random() * (BURST_MAX_S - BURST_MIN_S)) * 1000;
      this.burstStart = this.nextBurstAt;
      this.burstEnd = this.burstStart + durationMs;
      this.nextBurstAt = this.burstEnd + this.exp(this.meanGapMs);
    }
    const overlap = Math.min(slotEnd, this.burstEnd) - Math.max(slotStart, this.burstStart);
    if (overlap > 0) expected += (this.burstRate * overlap) / 1000;
    return this.poisson(expected);
  }

  get originMs(): number {
    return this.origin;
  }

  private exp(mean: number): number {
    return -Math.log(1 - this.random()) * mean;
  }

  /** Poisson for small means, normal approximation for large ones. */
  private poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean > 50) {
      const u = 1 - this.random();
      const v = this.random();
      const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
      return Math.max(0, Math.round(mean + z * Math.sqrt(mean)));
    }
    const l = Math.exp(-mean);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= this.random();
    } while (p > l);
    return k - 1;
  }
}

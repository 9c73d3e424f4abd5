/**
 * A set of closed time intervals, kept sorted and disjoint (overlapping or touching ones merge), with
 * a logarithmic membership test. Spans of event time whose row hashes left memory (dedup-guard.ts).
 */
export class TimeIntervals {
  private readonly los: number[] = [];
  private readonly his: number[] = [];

  get size(): number {
    return this.los.length;
  }

  add(lo: number, hi: number): void {
    // First interval that ends at or after `lo`; everything from there that starts by `hi` merges.
    const i = this.firstEndingFrom(lo);
    let j = i;
    while (j < this.los.length && this.los[j]! <= hi) {
      lo = Math.min(lo, this.los[j]!);
      hi = Math.max(hi, this.his[j]!);
      j++;
    }
    this.los.splice(i, j - i, lo);
    this.his.splice(i, j - i, hi);
  }

  contains(t: number): boolean {
    const i = this.firstEndingFrom(t);
    return i < this.los.length && this.los[i]! <= t;
  }

  private firstEndingFrom(t: number): number {
    let lo = 0;
    let hi = this.his.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.his[mid]! < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

import { describe, expect, it } from 'vitest';
import { MergingDigest, QuantileSketch, bufferCapacity } from '../../src/query/quantile-sketch.js';
import { mulberry32 } from '../../src/sim/random.js';

function normal(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

const DISTRIBUTIONS: Record<string, (rand: () => number) => number> = {
  uniform: (r) => r() * 1000 - 500,
  normal: (r) => 50 + 10 * normal(r),
  lognormal: (r) => Math.exp(2 * normal(r)),
  exponential: (r) => -Math.log(1 - r()),
  bimodal: (r) => (r() < 0.3 ? normal(r) : 1000 + normal(r)),
  integers: (r) => Math.floor(r() * 20),
  constant: () => 42,
};

function sample(name: string, n: number, seed: number): Float64Array {
  const rand = mulberry32(seed);
  const gen = DISTRIBUTIONS[name]!;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = gen(rand);
  return out;
}

/** DuckDB's quantile_cont over sorted values. */
function exactQuantile(sorted: Float64Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const i = Math.floor(pos);
  const frac = pos - i;
  return frac === 0 ? sorted[i]! : sorted[i]! + frac * (sorted[i + 1]! - sorted[i]!);
}

/** The acceptance rule: the answer lies between the exact quantiles at q ± 0.01. */
function expectWithinRankError(sorted: Float64Array, q: number, estimate: number, error = 0.01): void {
  const lo = exactQuantile(sorted, Math.max(0, q - error));
  const hi = exactQuantile(sorted, Math.min(1, q + error));
  const slack = 1e-9 * Math.max(1, Math.abs(lo), Math.abs(hi));
  expect(estimate, `q=${q}`).toBeGreaterThanOrEqual(lo - slack);
  expect(estimate, `q=${q}`).toBeLessThanOrEqual(hi + slack);
}

const QS = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1];
const N = 100_000;

describe('QuantileSketch', () => {
  it('is empty and NaN-proof', () => {
    const s = new QuantileSketch();
    expect(s.quantile(0.5)).toBeNaN();
    s.add(NaN);
    expect(s.count).toBe(0);
    s.add(3);
    s.add(NaN);
    expect(s.count).toBe(1);
    expect(s.quantile(0)).toBe(3);
    expect(s.quantile(0.99)).toBe(3);
  });

  it('answers quantile_cont exactly while it holds every value', () => {
    for (const n of [1, 2, 3, 5, 16, 17, 100, 2000]) {
      const data = sample('lognormal', n, n);
      const s = new QuantileSketch({ maxBuffer: 2048 });
      s.addAll(data);
      expect(s.exact).toBe(true);
      const sorted = data.slice().sort();
      for (const q of QS) expect(s.quantile(q)).toBeCloseTo(exactQuantile(sorted, q), 12);
    }
  });

  for (const name of Object.keys(DISTRIBUTIONS)) {
    for (const order of ['shuffled', 'sorted', 'reversed'] as const) {
      it(`stays within 1% rank error: ${name}, ${order}`, () => {
        const data = sample(name, N, 7);
        const sorted = data.slice().sort();
        const input = order === 'shuffled' ? data : order === 'sorted' ? sorted : sorted.slice().reverse();
        const s = new QuantileSketch();
        s.addAll(input);
        expect(s.count).toBe(N);
        expect(s.exact).toBe(false);
        for (const q of QS) expectWithinRankError(sorted, q, s.quantile(q));
        // Typical error is far below the bound; a regression would show here first.
        for (const q of [0.5, 0.95, 0.99]) expectWithinRankError(sorted, q, s.quantile(q), 0.003);
        expect(s.quantile(0)).toBe(sorted[0]);
        expect(s.quantile(1)).toBe(sorted[N - 1]);
      });
    }
  }

  it('keeps at most about δ centroids', () => {
    const d = new MergingDigest({ compression: 100 });
    const data = sample('normal', N, 3);
    for (const x of data) d.add(x);
    d.flush();
    expect(d.centroidCount).toBeGreaterThan(20);
    expect(d.centroidCount).toBeLessThanOrEqual(101);
  });

  it('interleaves queries with inserts', () => {
    const data = sample('exponential', 50_000, 11);
    const s = new QuantileSketch();
    for (let i = 0; i < data.length; i++) {
      s.add(data[i]!);
      if (i % 5000 === 4999) {
        const sorted = data.slice(0, i + 1).sort();
        for (const q of [0.5, 0.99]) expectWithinRankError(sorted, q, s.quantile(q));
      }
    }
  });

  it('merges many parts into one sketch within the error bound', () => {
    const data = sample('lognormal', N, 5);
    const sorted = data.slice().sort();
    // Parts of very different sizes: some stay exact, some are digests.
    const parts = [10, 3, 5000, 17, 40_000, 1, 300].map(() => new QuantileSketch({ maxBuffer: 256 }));
    for (let i = 0; i < N; i++) parts[i % 11 < 7 ? i % 11 : 4]!.add(data[i]!);
    const merged = new QuantileSketch();
    for (const p of parts) merged.merge(p);
    expect(merged.count).toBe(N);
    for (const q of QS) expectWithinRankError(sorted, q, merged.quantile(q));

    // Merging digests into digests, in a tree.
    const leaves = Array.from({ length: 64 }, () => new QuantileSketch({ maxBuffer: 64 }));
    for (let i = 0; i < N; i++) leaves[i % 64]!.add(data[i]!);
    let level = leaves;
    while (level.length > 1) {
      const next: QuantileSketch[] = [];
      for (let i = 0; i < level.length; i += 2) {
        level[i]!.merge(level[i + 1]!);
        next.push(level[i]!);
      }
      level = next;
    }
    expect(level[0]!.count).toBe(N);
    for (const q of QS) expectWithinRankError(sorted, q, level[0]!.quantile(q));
  });

  it('stays exact when small sketches merge, and leaves the other unchanged', () => {
    const a = new QuantileSketch();
    const b = new QuantileSketch();
    [5, 1, 9].forEach((x) => a.add(x));
    [7, 3].forEach((x) => b.add(x));
    a.merge(b);
    expect(a.count).toBe(5);
    expect(a.exact).toBe(true);
    expect(a.quantile(0.5)).toBe(5);
    expect(a.quantile(0.25)).toBe(3);
    expect(b.count).toBe(2);
    expect(b.quantile(0.5)).toBe(5);

    const big = new QuantileSketch();
    big.addAll(sample('uniform', 10_000, 2));
    const before = [0.1, 0.5, 0.9].map((q) => big.quantile(q));
    a.merge(big);
    expect(a.count).toBe(10_005);
    expect(big.count).toBe(10_000);
    expect([0.1, 0.5, 0.9].map((q) => big.quantile(q))).toEqual(before);
  });

  it('spreads buffer capacities by seed, never below maxBuffer', () => {
    expect(bufferCapacity(256, 0)).toBe(256);
    const caps = Array.from({ length: 1000 }, (_, i) => bufferCapacity(256, i + 1));
    expect(Math.min(...caps)).toBeGreaterThanOrEqual(256);
    expect(Math.max(...caps)).toBeLessThan(384);
    expect(new Set(caps).size).toBeGreaterThan(100);
    // Neighbouring seeds (neighbouring keys) land far apart.
    for (let i = 1; i < caps.length; i++) expect(Math.abs(caps[i]! - caps[i - 1]!)).toBeGreaterThan(10);
  });

  it('stays exact up to maxBuffer values and within 1% rank error whatever its seed', () => {
    const data = sample('lognormal', 20_000, 13);
    const sorted = data.slice().sort();
    for (const seed of [1, 2, 3, 17, 500, 999_983]) {
      const exact = new QuantileSketch({ maxBuffer: 256 }, seed);
      exact.addAll(data, 0, 256);
      expect(exact.exact).toBe(true);
      const head = data.slice(0, 256).sort();
      for (const q of QS) expect(exact.quantile(q)).toBeCloseTo(exactQuantile(head, q), 12);

      const s = new QuantileSketch({ maxBuffer: 256 }, seed);
      s.addAll(data);
      expect(s.exact).toBe(false);
      for (const q of QS) expectWithinRankError(sorted, q, s.quantile(q));
    }
  });

  it('spreads the merges of sketches filled in lockstep across batches', () => {
    // 1000 keys taking 8 values each per batch, round-robin, as readings from 1000 devices do.
    const keys = 1000;
    const sketches = Array.from({ length: keys }, (_, i) => new QuantileSketch({ maxBuffer: 256 }, i + 1));
    const rand = mulberry32(21);
    const merged = (s: QuantileSketch) => `${s.exact}:${s.centroidCount}`;
    let worst = 0;
    for (let batch = 0; batch < 120; batch++) {
      const before = sketches.map(merged);
      for (let v = 0; v < 8; v++) for (const s of sketches) s.add(rand());
      // A sketch whose state changed merged its buffer in this batch (an undercount at worst).
      const merges = sketches.filter((s, i) => merged(s) !== before[i]).length;
      worst = Math.max(worst, merges);
    }
    // Unstaggered, every one of the 1000 merges on the same batch, every 32 batches.
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(keys / 8);
  });
});

import { describe, expect, it } from 'vitest';
import { median, RobustBaseline, type BaselineOptions } from '../../src/alerts/robust-baseline.js';

const opts = (over: Partial<BaselineOptions> = {}): BaselineOptions => ({
  method: 'mad',
  history: 100,
  warmup: 10,
  sensitivity: 4,
  direction: 'both',
  ...over,
});

/** Deterministic noise around 100 with a spread of about ±5. */
function noisy(n: number): number[] {
  let s = 42;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return 100 + ((s / 2 ** 32) * 10 - 5);
  });
}

describe('RobustBaseline', () => {
  for (const method of ['mad', 'ewma'] as const)
    it(`(${method}) judges nothing during warm-up, then flags outliers only`, () => {
      const b = new RobustBaseline(opts({ method }));
      expect(b.observe(1e6).anomalous).toBe(false); // first value: warming up
      const fresh = new RobustBaseline(opts({ method }));
      const values = noisy(50);
      const verdicts = values.map((v) => fresh.observe(v));
      expect(verdicts.slice(0, 10).every((v) => v.warmingUp)).toBe(true);
      expect(verdicts.some((v) => v.anomalous)).toBe(false);
      const spike = fresh.judge(200);
      expect(spike).toMatchObject({ anomalous: true, warmingUp: false });
      expect(spike.lower).toBeLessThan(100);
      expect(spike.upper).toBeGreaterThan(100);
      expect(fresh.judge(40).anomalous).toBe(true);
      expect(fresh.judge(103).anomalous).toBe(false);
    });

  it('is not dragged by a few outliers (median and MAD)', () => {
    const b = new RobustBaseline(opts());
    for (const v of noisy(40)) b.observe(v);
    for (let i = 0; i < 3; i++) b.observe(10_000);
    expect(b.judge(104).anomalous).toBe(false);
    expect(b.judge(10_000).anomalous).toBe(true);
  });

  it('respects the direction and a flat series', () => {
    const up = new RobustBaseline(opts({ direction: 'up' }));
    for (let i = 0; i < 20; i++) up.observe(50);
    expect(up.judge(10).anomalous).toBe(false);
    // A flat series has MAD 0; the scale floor (1% of the level) keeps tiny changes normal.
    expect(up.judge(50.2).anomalous).toBe(false);
    expect(up.judge(60).anomalous).toBe(true);
  });

  it('keeps at most `history` values and restores from its state', () => {
    const b = new RobustBaseline(opts({ history: 5 }));
    for (let i = 0; i < 20; i++) b.observe(i);
    expect(b.state.values).toEqual([15, 16, 17, 18, 19]);
    const copy = new RobustBaseline(opts({ history: 5 }), JSON.parse(JSON.stringify(b.state)));
    expect(copy.judge(17)).toEqual(b.judge(17));
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });
});

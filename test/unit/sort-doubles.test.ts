import { describe, expect, it } from 'vitest';
import { sortDoubles } from '../../src/core/sort-doubles.js';

/** Deterministic pseudo-random values, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

function expectSortedLike(input: Float64Array, from = 0, to = input.length): void {
  const got = Float64Array.from(input);
  sortDoubles(got, from, to);
  const want = Float64Array.from(input);
  want.subarray(from, to).sort();
  // -0 and 0 may trade places; compare numerically.
  expect(Array.from(got, (x) => x + 0)).toEqual(Array.from(want, (x) => x + 0));
}

describe('sortDoubles', () => {
  it('sorts like Float64Array.prototype.sort for random, duplicate-heavy, signed and extreme values', () => {
    const next = random(7);
    for (const n of [0, 1, 2, 3, 15, 16, 17, 100, 2048, 3071, 10_000]) {
      expectSortedLike(Float64Array.from({ length: n }, () => (next() - 0.5) * 1e6));
      expectSortedLike(Float64Array.from({ length: n }, () => Math.floor(next() * 5)));
      expectSortedLike(
        Float64Array.from(
          { length: n },
          (_, i) => [Infinity, -Infinity, 0, -0, Number.MIN_VALUE, -Number.MAX_VALUE][i % 6]!,
        ),
      );
    }
  });

  it('handles sorted, reversed, constant and organ-pipe input without going quadratic', () => {
    const n = 200_000;
    const shapes = [
      Float64Array.from({ length: n }, (_, i) => i),
      Float64Array.from({ length: n }, (_, i) => n - i),
      new Float64Array(n).fill(3.5),
      Float64Array.from({ length: n }, (_, i) => (i < n / 2 ? i : n - i)),
      Float64Array.from({ length: n }, (_, i) => i % 2),
    ];
    const started = performance.now();
    for (const a of shapes) expectSortedLike(a);
    // Quadratic behaviour on any of these would take minutes, not milliseconds.
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('sorts only the given range', () => {
    const next = random(11);
    const a = Float64Array.from({ length: 1000 }, () => next());
    expectSortedLike(a, 100, 900);
    const b = Float64Array.from(a);
    sortDoubles(b, 100, 900);
    expect(Array.from(b.subarray(0, 100))).toEqual(Array.from(a.subarray(0, 100)));
    expect(Array.from(b.subarray(900))).toEqual(Array.from(a.subarray(900)));
  });

  it('sorts a median-of-three killer sequence (past its depth limit heapsort takes over)', () => {
    // A median-of-three killer sequence drives plain quicksort to its worst case.
    const n = 4096;
    const a = new Float64Array(n);
    const k = n / 2;
    for (let i = 1; i <= k; i++) {
      if (i % 2 === 1) {
        a[i - 1] = i;
        a[i] = k + i;
      }
      a[k + i - 1] = 2 * i;
    }
    expectSortedLike(a);
  });
});

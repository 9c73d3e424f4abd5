import { describe, expect, it } from 'vitest';
import { SeriesIndex, sameSeries } from '../../src/apply/rollups/series-index.js';

describe('SeriesIndex', () => {
  // Columns: user, endpoint, status; the level keys on endpoint and status (columns 1 and 2).
  const keys = [
    ['u1', 'u2', 'u3', 'u4', 'u5'],
    ['/a', '/a', '/b', '/a', '/b'],
    ['200', '200', '200', '500', '200'],
  ];

  it('numbers the series of rows in order of first sight, by every key column of the level', () => {
    const index = new SeriesIndex(2);
    const got = [0, 1, 2, 3, 4].map((r) => index.ofRow(keys, [1, 2], r, true));
    expect(got).toStrictEqual([0, 0, 1, 2, 1]);
    expect(index.size).toBe(3);
    expect(index.ofValues(['/a', '500'], false)).toBe(2);
    expect(index.ofValues(['/b', '500'], false)).toBe(-1);
    expect(index.ofValues(['/b', '500'], true)).toBe(3);
  });

  it('tells a tuple from one that only shares its prefix, and finds nothing without adding', () => {
    const index = new SeriesIndex(3);
    expect(index.ofRow(keys, [1, 2, 0], 0, false)).toBe(-1);
    expect(index.size).toBe(0);
    expect(index.ofRow(keys, [1, 2, 0], 0, true)).toBe(0);
    expect(index.ofRow(keys, [1, 2, 0], 1, true)).toBe(1);
    expect(index.ofValues(['/a', '200', 'u1'], false)).toBe(0);
    expect(index.ofValues(['/a', '200', 'u2'], false)).toBe(1);
  });

  it('has one series for a level without key columns', () => {
    const index = new SeriesIndex(0);
    expect(index.ofRow(keys, [], 0, false)).toBe(-1);
    expect(index.ofRow(keys, [], 0, true)).toBe(0);
    expect(index.ofRow(keys, [], 3, true)).toBe(0);
    expect(index.ofValues([], false)).toBe(0);
    expect(index.size).toBe(1);
  });

  it('compares two rows on the level key columns only', () => {
    expect(sameSeries(keys, [1, 2], 0, 1)).toBe(true);
    expect(sameSeries(keys, [1, 2], 0, 3)).toBe(false);
    expect(sameSeries(keys, [0, 1], 0, 1)).toBe(false);
    expect(sameSeries(keys, [], 0, 4)).toBe(true);
  });
});

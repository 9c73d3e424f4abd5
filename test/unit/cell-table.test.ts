import { describe, expect, it } from 'vitest';
import { CellTable, fieldAggregateOf } from '../../src/query/analytics/cell-table.js';

const MIN = 60_000_000;

/** Cells of `table` in [from, to) as {bucket: [rows, count, sum, min, max]}, walked either way. */
function cells(table: CellTable, from: number, to: number): Record<number, number[]> {
  const out: Record<number, number[]> = {};
  table.forEachIn(from, to, MIN, (at, b) => {
    const f = fieldAggregateOf(table.values, at, 0);
    out[b] = [table.values[at]!, f.count, f.sum, f.min, f.max];
  });
  return out;
}

describe('CellTable', () => {
  it('keeps every cell through growth, answers ranges by lookup and by walk alike, and packs on drop', () => {
    const table = new CellTable(1);
    const want: Record<number, number[]> = {};
    const values = new Float64Array([0]);
    // 100 buckets, out of order, some rows without a value (NaN).
    for (let i = 0; i < 1000; i++) {
      const b = ((i * 37) % 100) * MIN;
      values[0] = i % 10 === 0 ? NaN : i;
      table.addRow(table.cellAt(b), [values], 0);
      const w = (want[b] ??= [0, 0, 0, Infinity, -Infinity]);
      w[0]!++;
      if (i % 10 !== 0) {
        w[1]!++;
        w[2]! += i;
        w[3] = Math.min(w[3]!, i);
        w[4] = Math.max(w[4]!, i);
      }
    }
    for (const w of Object.values(want)) if (w[1] === 0) [w[3], w[4]] = [NaN, NaN];
    expect(table.size).toBe(100);
    expect(cells(table, 0, 100 * MIN)).toEqual(want); // more buckets than cells: walks
    const some = cells(table, 10 * MIN, 20 * MIN); // fewer: looks each one up
    expect(Object.keys(some).map(Number)).toEqual(Array.from({ length: 10 }, (_, i) => (10 + i) * MIN));
    expect(table.dropBefore(50 * MIN)).toBe(50);
    expect(table.size).toBe(50);
    const kept = Object.fromEntries(Object.entries(want).filter(([b]) => Number(b) >= 50 * MIN));
    expect(cells(table, 0, 100 * MIN)).toEqual(kept);
    // Still takes rows after packing, into old and new buckets.
    values[0] = 5;
    table.addRow(table.cellAt(99 * MIN), [values], 0);
    table.addRow(table.cellAt(200 * MIN), [values], 0);
    expect(cells(table, 99 * MIN, 100 * MIN)[99 * MIN]![0]).toBe(kept[99 * MIN]![0]! + 1);
    expect(cells(table, 200 * MIN, 201 * MIN)).toEqual({ [200 * MIN]: [1, 1, 5, 5, 5] });
  });
});

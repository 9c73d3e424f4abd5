import { describe, expect, it } from 'vitest';
import { fromWireSeries, toWireSeries } from '../../src/store/worker/series-wire.js';
import type { SeriesPoint } from '../../src/store/series-store.js';

describe('series points on the wire', () => {
  it('round-trip as columns: times, keys, values and nulls unchanged; one keys array per series', () => {
    const points: SeriesPoint[] = [
      { timeUs: 1_700_000_000_000_000, keys: ['a', 'x'], values: [1.5, null] },
      { timeUs: 1_700_000_060_000_000, keys: ['a', 'x'], values: [-2, 0] },
      { timeUs: 1_700_000_000_000_000, keys: ['b', 'x'], values: [null, 3e300] },
      { timeUs: 1_700_000_000_000_000, keys: ['a\u001f', 'x'], values: [4, 5] },
      { timeUs: 1_700_000_000_000_000, keys: ['a', '\u001fx'], values: [6, 7] },
    ];
    const wire = toWireSeries(points);
    expect(wire.tuples).toHaveLength(4);
    const back = fromWireSeries(structuredClone(wire));
    expect(back).toEqual(points);
    expect(back[0]!.keys).toBe(back[1]!.keys);
    expect(back[2]!.keys).not.toBe(back[0]!.keys);
  });

  it('carry an empty answer and series without key columns', () => {
    expect(fromWireSeries(toWireSeries([]))).toEqual([]);
    const keyless: SeriesPoint[] = [
      { timeUs: 1, keys: [], values: [7] },
      { timeUs: 2, keys: [], values: [8] },
    ];
    expect(fromWireSeries(toWireSeries(keyless))).toEqual(keyless);
  });
});

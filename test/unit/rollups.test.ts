import { describe, expect, it } from 'vitest';
import { RollupAccumulator } from '../../src/apply/rollups/rollup-accumulator.js';
import { levelFor, rollupLevelsOf, servingResolution } from '../../src/apply/rollups/rollup-levels.js';
import { cellOf, type CellBlock } from '../../src/apply/rollups/cell-block.js';
import { ROLLUP_SKETCH, type RollupCell } from '../../src/apply/rollups/rollup-cell.js';
import { datasetSchema, layoutOf } from '../../src/core/dataset.js';
import { isSluiceError } from '../../src/core/errors.js';
import { TimeSlicer } from '../../src/core/time-slicer.js';
import { planStepped, planWindow } from '../../src/query/analytics/rollup-window.js';
import { QuantileSketch } from '../../src/query/quantile-sketch.js';
import { mulberry32 } from '../../src/sim/random.js';

const MIN = 60_000_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

describe('QuantileSketch bytes', () => {
  it('round-trips an exact sketch value for value, and an empty one', () => {
    const s = new QuantileSketch(ROLLUP_SKETCH);
    for (const x of [5, -1, 3.25, 1e300, -0, 7]) s.add(x);
    const back = QuantileSketch.fromBytes(s.toBytes(), ROLLUP_SKETCH);
    expect(back.exact).toBe(true);
    expect(back.count).toBe(6);
    for (const q of [0, 0.1, 0.5, 0.9, 1]) expect(back.quantile(q)).toBe(s.quantile(q));
    expect(QuantileSketch.fromBytes(new QuantileSketch().toBytes()).count).toBe(0);
  });

  it('round-trips a compressed sketch, which then merges like the original', () => {
    const rand = mulberry32(9);
    const a = new QuantileSketch(ROLLUP_SKETCH);
    const b = new QuantileSketch(ROLLUP_SKETCH);
    for (let i = 0; i < 20_000; i++) a.add(rand() * 100);
    for (let i = 0; i < 5_000; i++) b.add(100 + rand() * 100);
    const bytes = a.toBytes();
    // About 100 centroids of 16 bytes, whatever the count.
    expect(bytes.length).toBeLessThan(21 + 16 * 120);
    const back = QuantileSketch.fromBytes(bytes, ROLLUP_SKETCH);
    expect(back.exact).toBe(false);
    expect(back.count).toBe(20_000);
    for (const q of [0, 0.01, 0.5, 0.99, 1]) expect(back.quantile(q)).toBeCloseTo(a.quantile(q), 9);
    back.merge(QuantileSketch.fromBytes(b.toBytes(), ROLLUP_SKETCH));
    expect(back.count).toBe(25_000);
    // 80% of the values are below 100.
    expect(back.quantile(0.8)).toBeGreaterThan(98);
    expect(back.quantile(0.8)).toBeLessThan(102);
  });

  it('refuses bytes that are not a sketch', () => {
    expect(() => QuantileSketch.fromBytes(new Uint8Array([9, 0, 0, 0, 0]))).toThrow(RangeError);
    expect(() => QuantileSketch.fromBytes(new Uint8Array([1, 3, 0, 0, 0, 1]))).toThrow(RangeError);
  });
});

/** One key, a time and one field, with the default rollup levels (1m, 1h and 1d of the full series). */
const layout = layoutOf(
  datasetSchema.parse({
    name: 'r',
    columns: [
      { name: 'k', role: 'key' },
      { name: 'ts', type: 'time', role: 'time' },
      { name: 'v', type: 'number', role: 'field' },
    ],
  }),
);

describe('RollupAccumulator', () => {
  it('builds minute cells and merges them into hour and day cells, skipping dropped rows and missing values', async () => {
    const acc = new RollupAccumulator(layout);
    const times = [T0, T0 + 30e6, T0 + MIN, T0 + HOUR + 1, T0 + DAY + 5, T0 + 2];
    acc.add(
      {
        length: 6,
        keys: [['a', 'a', 'a', 'a', 'a', 'b']],
        timeUs: Float64Array.from(times),
        fields: [Float64Array.from([1, 2, 3, NaN, 5, 100])],
      },
      Uint8Array.from([1, 1, 1, 1, 1, 0]),
    );
    expect(acc.pendingRows).toBe(5);
    const blocks = (await acc.take(new TimeSlicer(4)))[0]!.blocks;
    expect(acc.pendingRows).toBe(0);
    const cells = (b: CellBlock | undefined): RollupCell[] =>
      b === undefined ? [] : Array.from({ length: b.size }, (_, c) => cellOf(b, c));
    const d = { '1m': cells(blocks['1m']), '1h': cells(blocks['1h']), '1d': cells(blocks['1d']) };
    const brief = (list: RollupCell[]) =>
      list
        .map((c) => [
          c.keys[0],
          c.bucketUs - T0,
          c.rows,
          c.fields[0]!.count,
          c.fields[0]!.sum,
          c.fields[0]!.max,
        ])
        .sort((x, y) => (x[1] as number) - (y[1] as number));
    expect(brief(d['1m'])).toEqual([
      ['a', 0, 2, 2, 3, 2],
      ['a', MIN, 1, 1, 3, 3],
      ['a', HOUR, 1, 0, 0, -Infinity],
      ['a', DAY, 1, 1, 5, 5],
    ]);
    expect(brief(d['1h'])).toEqual([
      ['a', 0, 3, 3, 6, 3],
      ['a', HOUR, 1, 0, 0, -Infinity],
      ['a', DAY, 1, 1, 5, 5],
    ]);
    expect(brief(d['1d'])).toEqual([
      ['a', 0, 4, 3, 6, 3],
      ['a', DAY, 1, 1, 5, 5],
    ]);
    expect(d['1d'].find((c) => c.bucketUs === T0)!.fields[0]!.sumSq).toBe(1 + 4 + 9);
  });

  it('writes each cell its sketch: none up to two values, every value up to 64, centroids past that', async () => {
    const acc = new RollupAccumulator(layout);
    const rand = mulberry32(3);
    const rows = [1, 2, 3, 64, 65, 5000];
    const keys: string[] = [];
    const times: number[] = [];
    const values: number[] = [];
    rows.forEach((n, k) => {
      for (let i = 0; i < n; i++) {
        keys.push(`s${k}`);
        times.push(T0 + ((i * 7) % 60) * 1e6);
        values.push(rand() * 100);
      }
    });
    acc.add({
      length: keys.length,
      keys: [keys],
      timeUs: Float64Array.from(times),
      fields: [Float64Array.from(values)],
    });
    const block = (await acc.take(new TimeSlicer(4)))[0]!.blocks['1m']!;
    const bySeries = new Map(
      Array.from({ length: block.size }, (_, c) => [block.seriesKeys[block.seriesOf[c]!]![0]!, c]),
    );
    rows.forEach((n, k) => {
      const c = bySeries.get(`s${k}`)!;
      const mine = values.filter((_, i) => keys[i] === `s${k}`).sort((a, b) => a - b);
      const cell = cellOf(block, c);
      expect(cell.fields[0]!.count).toBe(n);
      if (n <= 2) return expect(block.fields[0]!.sketch.length[c]).toBe(0);
      const sketch = cell.fields[0]!.sketch!;
      expect(sketch.exact).toBe(n <= 64);
      expect(sketch.quantile(0)).toBe(mine[0]);
      expect(sketch.quantile(1)).toBe(mine[n - 1]);
      if (n <= 64) expect(sketch.quantile(0.5)).toBe(quantileOfSorted(mine, 0.5));
      else expect(Math.abs(sketch.quantile(0.5) - quantileOfSorted(mine, 0.5))).toBeLessThan(2);
    });
  });
});

describe('building rollup blocks in slices', () => {
  it('gives the thread back between slices and builds the same cells as in one go', async () => {
    const rand = mulberry32(7);
    const n = 40_000;
    const rows = {
      length: n,
      keys: [Array.from({ length: n }, (_, i) => `s${i % 2000}`)],
      timeUs: Float64Array.from({ length: n }, (_, i) => T0 + i * 1e6),
      fields: [Float64Array.from({ length: n }, () => rand() * 100)],
    };
    const build = async (slicer: TimeSlicer) => {
      const acc = new RollupAccumulator(layout);
      acc.add(rows);
      return acc.take(slicer);
    };
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    const whole = await build(new TimeSlicer(Infinity));
    const ticksWhole = ticks;
    // A zero-length slice pauses at every look at the clock.
    const sliced = await build(new TimeSlicer(0));
    clearInterval(ticker);
    expect(ticks - ticksWhole).toBeGreaterThan(10);
    expect(sliced.length).toBe(whole.length);
    for (let l = 0; l < whole.length; l++)
      for (const res of ['1m', '1h', '1d'] as const) {
        const a = whole[l]!.blocks[res]!;
        const b = sliced[l]!.blocks[res]!;
        expect(b.size).toBe(a.size);
        expect(Array.from({ length: b.size }, (_, c) => cellOf(b, c))).toStrictEqual(
          Array.from({ length: a.size }, (_, c) => cellOf(a, c)),
        );
      }
  });
});

function quantileOfSorted(sorted: number[], q: number): number {
  const pos = q * (sorted.length - 1);
  const i = Math.floor(pos);
  return pos === i ? sorted[i]! : sorted[i]! + (pos - i) * (sorted[i + 1]! - sorted[i]!);
}

describe('rollup windows', () => {
  it('reads minutes at the edges, hours up to the days, days in the middle', () => {
    const w = planWindow(T0 + 5 * HOUR + 17 * MIN + 3, T0 + 3 * DAY + 2 * HOUR + 41 * MIN + 10);
    expect(w.fromUs).toBe(T0 + 5 * HOUR + 17 * MIN);
    expect(w.toUs).toBe(T0 + 3 * DAY + 2 * HOUR + 42 * MIN);
    expect(w.segments.map((s) => [s.resolution, s.fromUs - T0, s.toUs - T0])).toEqual([
      ['1m', 5 * HOUR + 17 * MIN, 6 * HOUR],
      ['1h', 6 * HOUR, DAY],
      ['1d', DAY, 3 * DAY],
      ['1h', 3 * DAY, 3 * DAY + 2 * HOUR],
      ['1m', 3 * DAY + 2 * HOUR, 3 * DAY + 2 * HOUR + 42 * MIN],
    ]);
  });

  it('covers short windows with minutes only, and windows inside a day with hours', () => {
    expect(planWindow(T0 + 10 * MIN, T0 + 50 * MIN).segments).toEqual([
      { resolution: '1m', fromUs: T0 + 10 * MIN, toUs: T0 + 50 * MIN },
    ]);
    expect(planWindow(T0 + HOUR, T0 + 5 * HOUR).segments.map((s) => s.resolution)).toEqual(['1h']);
  });

  it('picks the coarsest resolution a step allows', () => {
    expect(planStepped(T0 + 5, T0 + 2 * DAY, DAY).segments).toEqual([
      { resolution: '1d', fromUs: T0, toUs: T0 + 2 * DAY },
    ]);
    expect(planStepped(T0, T0 + DAY, 2 * HOUR).segments[0]!.resolution).toBe('1h');
    expect(planStepped(T0, T0 + HOUR, 15 * MIN).segments[0]!.resolution).toBe('1m');
    for (const bad of [() => planStepped(T0, T0 + HOUR, 30e6), () => planWindow(T0, T0)])
      expect(bad).toThrow(expect.toSatisfy(isSluiceError));
  });
});

describe('rollup levels', () => {
  const spec = (rollups?: unknown) =>
    datasetSchema.safeParse({
      name: 'req',
      columns: [
        { name: 'user', role: 'key' },
        { name: 'endpoint', role: 'key' },
        { name: 'ts', type: 'time', role: 'time' },
        { name: 'ms', type: 'number', role: 'field' },
      ],
      rollups,
    });
  const levels = (rollups?: unknown) => {
    const parsed = spec(rollups);
    if (!parsed.success) throw parsed.error;
    return rollupLevelsOf(layoutOf(parsed.data));
  };

  it('defaults to the full series and each key column alone, at every resolution', () => {
    expect(levels().map((l) => [l.columns, l.suffix, l.resolutions])).toEqual([
      [['user', 'endpoint'], '', ['1m', '1h', '1d']],
      [['user'], '@user', ['1m', '1h', '1d']],
      [['endpoint'], '@endpoint', ['1m', '1h', '1d']],
    ]);
  });

  it('keeps declared levels in key order, the whole dataset as @_all, and none for []', () => {
    const declared = levels([
      { by: ['endpoint', 'user'], resolutions: ['1d', '1h'] },
      { by: ['endpoint'] },
      { by: [], resolutions: ['1d'] },
    ]);
    expect(declared.map((l) => [l.columns, l.suffix, l.resolutions])).toEqual([
      [['user', 'endpoint'], '', ['1h', '1d']],
      [['endpoint'], '@endpoint', ['1m', '1h', '1d']],
      [[], '@_all', ['1d']],
    ]);
    expect(levels([])).toEqual([]);
  });

  it('picks the covering level with the fewest columns, and a finer resolution for a missing one', () => {
    const parsed = spec([{ by: ['user', 'endpoint'], resolutions: ['1h', '1d'] }, { by: ['endpoint'] }]);
    const layout = layoutOf(parsed.success ? parsed.data : datasetSchema.parse({}));
    expect(levelFor(layout, ['endpoint'])?.suffix).toBe('@endpoint');
    expect(levelFor(layout, ['endpoint', 'user'])?.suffix).toBe('');
    expect(levelFor(layout, ['user'])?.suffix).toBe('');
    const full = levelFor(layout, ['user'])!;
    expect(servingResolution(full, '1d')).toBe('1d');
    expect(servingResolution(full, '1m')).toBeUndefined();
    const byEndpoint = levelFor(layout, [])!;
    expect(byEndpoint.suffix).toBe('@endpoint');
    expect(servingResolution({ ...byEndpoint, resolutions: ['1m'] }, '1d')).toBe('1m');
  });

  it('refuses levels on unknown or repeated columns, and the same level twice', () => {
    const issues = (rollups: unknown) => {
      const parsed = spec(rollups);
      return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues([{ by: ['ms'] }])).toEqual([
      "rollups.0.by.0: 'ms' is not a key column (keys: user, endpoint)",
    ]);
    expect(issues([{ by: ['user', 'user'] }])).toEqual(['rollups.0.by: a column is named twice']);
    expect(issues([{ by: ['user', 'endpoint'] }, { by: ['endpoint', 'user'] }])).toEqual([
      'rollups.1.by: another level already rolls up by [endpoint, user]',
    ]);
    expect(issues([{ by: ['user'], resolutions: [] }])[0]).toMatch(/^rollups.0.resolutions/);
  });
});

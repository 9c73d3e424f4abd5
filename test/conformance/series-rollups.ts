import { describe, expect, it, type TestContext } from 'vitest';
import type { SeriesCapability, SeriesStore } from '../../src/store/series-store.js';
import { T0_US, readingRows, readingsBatch, readingsLayout, type ReadingRow } from './series-fixtures.js';

const DAY_US = 86_400_000_000;
const HOUR_US = 3_600_000_000;

/** Rows spread over three UTC days: `perDay` rows a day, 3 devices, a few minutes apart. */
function threeDays(perDay: number): ReadingRow[] {
  return [0, 1, 2].flatMap((d) =>
    readingRows(perDay, 3, 2 + d * perDay).map((r, i) => ({
      ...r,
      timeUs: T0_US + d * DAY_US + i * 170_000_000,
      hash: r.hash + d,
    })),
  );
}

/** Exact per-device figures computed from the rows themselves. */
function model(rows: readonly ReadingRow[], from = -Infinity, to = Infinity) {
  const out = new Map<
    string,
    { rows: number; n: number; sum: number; min: number; max: number; values: number[] }
  >();
  for (const r of rows) {
    if (r.timeUs < from || r.timeUs >= to) continue;
    let m = out.get(r.device);
    if (!m) out.set(r.device, (m = { rows: 0, n: 0, sum: 0, min: Infinity, max: -Infinity, values: [] }));
    m.rows++;
    m.n++;
    m.sum += r.value;
    m.min = Math.min(m.min, r.value);
    m.max = Math.max(m.max, r.value);
    m.values.push(r.value);
  }
  return out;
}

/**
 * Rollups, apply sequence, time partitions and retention: part of the SeriesStore conformance suite,
 * run against every adapter that declares `rollups` / `retention`.
 */
export function runRollupConformance(
  name: string,
  current: () => SeriesStore,
  needs: (ctx: TestContext, ...caps: SeriesCapability[]) => void,
): void {
  const layout = readingsLayout();

  let batchNo = 100;
  /** Appends the rows as one batch and waits until they are in the stored rollups. */
  async function rollUp(store: SeriesStore, rows: readonly ReadingRow[], l = layout): Promise<number> {
    const r = await store.append(l, readingsBatch(rows, { seq: batchNo++ }));
    await store.flushRollups();
    return r.seq;
  }

  describe(`rollups (${name})`, () => {
    it('gives each applied batch a growing apply sequence and scans the rows after one', async (ctx) => {
      needs(ctx, 'append', 'scan', 'rollups');
      const store = current();
      const a = await store.append(layout, readingsBatch(readingRows(30)));
      const b = await store.append(layout, readingsBatch(readingRows(12, 3, 500), { seq: 1 }));
      expect(b.seq).toBeGreaterThan(a.seq);
      let after = 0;
      await store.scan(
        layout,
        (c) => {
          after += c.length;
        },
        { afterSeq: a.seq },
      );
      expect(after).toBe(12);
    });

    it('keeps rows of many days readable as one dataset', async (ctx) => {
      needs(ctx, 'append', 'series', 'latest');
      const store = current();
      const rows = threeDays(200);
      await store.append(layout, readingsBatch(rows));
      expect(await store.count(layout)).toBe(600);
      const day2 = await store.series(layout, {
        keys: {},
        fromUs: T0_US + DAY_US,
        toUs: T0_US + 2 * DAY_US,
        stepMs: 86_400_000,
        agg: 'count',
        fields: ['value'],
        limit: 100,
      });
      expect(day2.reduce((n, p) => n + (p.values[0] ?? 0), 0)).toBe(200);
      const latest = await store.latest(layout, { device_id: ['dev-0'] });
      expect(latest?.timeUs).toBe(Math.max(...rows.filter((r) => r.device === 'dev-0').map((r) => r.timeUs)));
    });

    it('merges rollup deltas into buckets, moves the watermark, and answers grouped reads exactly', async (ctx) => {
      needs(ctx, 'append', 'rollups');
      const store = current();
      await store.ensureDataset(layout);
      const rows = threeDays(300);
      expect(await store.rollupWatermark('readings')).toBe(0);
      // Two flushes that touch the same buckets: the stored cells must hold their sum.
      const first = await rollUp(
        store,
        rows.filter((_, i) => i % 2 === 0),
      );
      expect(await store.rollupWatermark('readings')).toBe(first);
      const second = await rollUp(
        store,
        rows.filter((_, i) => i % 2 === 1),
      );
      expect(await store.rollupWatermark('readings')).toBe(second);
      const from = T0_US + 5 * HOUR_US + 17 * 60_000_000;
      const to = T0_US + DAY_US + 20 * HOUR_US;
      const want = model(rows, from, to);
      // The same window cut into minute, hour and day stretches.
      const dayStart = T0_US + DAY_US;
      const groups = await store.readRollups(layout, {
        segments: [
          { resolution: '1m', fromUs: from, toUs: T0_US + 6 * HOUR_US },
          { resolution: '1h', fromUs: T0_US + 6 * HOUR_US, toUs: dayStart },
          { resolution: '1h', fromUs: dayStart, toUs: dayStart + 19 * HOUR_US },
          { resolution: '1m', fromUs: dayStart + 19 * HOUR_US, toUs: to },
        ],
        keys: {},
        groupBy: ['device_id'],
        fields: ['value'],
        sketches: true,
      });
      expect(groups.map((g) => g.group[0]).sort()).toEqual([...want.keys()].sort());
      for (const g of groups) {
        const m = want.get(g.group[0]!)!;
        const f = g.fields[0]!;
        expect(g.rows).toBe(m.rows);
        expect(f.count).toBe(m.n);
        expect(f.sum).toBeCloseTo(m.sum, 6);
        expect(f.min).toBe(m.min);
        expect(f.max).toBe(m.max);
        const sorted = m.values.sort((x, y) => x - y);
        expect(f.sketch!.quantile(0)).toBe(sorted[0]);
        expect(f.sketch!.quantile(1)).toBe(sorted[sorted.length - 1]);
      }
      // Filtered on another key column: read from the full series.
      const north = await store.readRollups(layout, {
        segments: [{ resolution: '1d', fromUs: T0_US, toUs: T0_US + 3 * DAY_US }],
        keys: { site: ['north'] },
        groupBy: ['device_id'],
        fields: ['value'],
        sketches: true,
      });
      const wantNorth = model(rows.filter((r) => r.site === 'north'));
      expect(north.map((g) => [g.group[0], g.rows, g.fields[0]!.max]).sort()).toEqual(
        [...wantNorth.entries()].map(([d, m]) => [d, m.rows, m.max]).sort(),
      );
      for (const g of north)
        expect(g.fields[0]!.sketch!.quantile(0)).toBe(Math.min(...wantNorth.get(g.group[0]!)!.values));
      // Per day, from the day buckets, with a key filter.
      const daily = await store.readRollups(layout, {
        segments: [{ resolution: '1d', fromUs: T0_US, toUs: T0_US + 3 * DAY_US }],
        keys: { device_id: ['dev-1'] },
        groupBy: [],
        fields: ['value', 'temp'],
        stepUs: DAY_US,
        sketches: false,
      });
      expect(daily.map((d) => d.bucketUs).sort()).toEqual([T0_US, T0_US + DAY_US, T0_US + 2 * DAY_US]);
      for (const d of daily) expect(d.rows).toBe(100);
      const temps = rows.filter((r) => r.device === 'dev-1' && !Number.isNaN(r.temp));
      expect(daily.reduce((n, d) => n + d.fields[1]!.count, 0)).toBe(temps.length);
    });

    it('drops whole expired day partitions and old rollup buckets, keeping newer data', async (ctx) => {
      needs(ctx, 'append', 'rollups', 'retention');
      const store = current();
      const rows = threeDays(120);
      await rollUp(store, rows);
      // Raw: everything before day 2 goes. Rollups: everything before day 1.
      const r = await store.dropExpired(layout, {
        rawBeforeUs: T0_US + 2 * DAY_US + HOUR_US,
        rollupsBeforeUs: T0_US + DAY_US,
      });
      expect(r.partitionsDropped).toBe(2);
      expect(r.rowsDropped).toBe(240);
      expect(r.rollupRowsDropped).toBeGreaterThan(0);
      expect(await store.count(layout)).toBe(120);
      const daily = await store.readRollups(layout, {
        segments: [{ resolution: '1d', fromUs: T0_US, toUs: T0_US + 3 * DAY_US }],
        keys: {},
        groupBy: [],
        fields: [],
        stepUs: DAY_US,
        sketches: false,
      });
      expect(daily.map((d) => [d.bucketUs, d.rows]).sort()).toEqual([
        [T0_US + DAY_US, 120],
        [T0_US + 2 * DAY_US, 120],
      ]);
      // Running again finds nothing more to drop.
      expect(
        await store.dropExpired(layout, { rawBeforeUs: T0_US + 2 * DAY_US, rollupsBeforeUs: T0_US + DAY_US }),
      ).toEqual({ partitionsDropped: 0, rowsDropped: 0, rollupRowsDropped: 0 });
      // Late rows for a dropped day make a new partition (kept explicitly: dedup still knows them).
      await store.append(layout, readingsBatch(rows.slice(0, 5), { seq: 9 }), new Uint8Array(5).fill(1));
      expect(await store.count(layout)).toBe(125);
    });

    it('serves what declared levels lack from raw rows, and counts rows not yet flushed', async (ctx) => {
      needs(ctx, 'append', 'rollups');
      const store = current();
      // Sites at hours and days only; nothing per device.
      const sparse = readingsLayout('readings', [{ by: ['site'], resolutions: ['1h', '1d'] }]);
      const rows = threeDays(300);
      const flushed = rows.filter((_, i) => i % 3 !== 0);
      const unflushed = rows.filter((_, i) => i % 3 === 0);
      const a = await rollUp(store, flushed, sparse);
      // The suite's stores fold rows only when told to (see the adapters' test files).
      const b = await store.append(sparse, readingsBatch(unflushed, { seq: 1 }));
      expect(await store.rollupWatermark('readings')).toBe(a);
      expect(b.seq).toBeGreaterThan(a);
      const from = T0_US + 5 * HOUR_US + 17 * 60_000_000;
      const to = T0_US + DAY_US + 20 * HOUR_US + 3 * 60_000_000;
      const segments = [
        { resolution: '1m' as const, fromUs: from, toUs: T0_US + 6 * HOUR_US },
        { resolution: '1h' as const, fromUs: T0_US + 6 * HOUR_US, toUs: T0_US + DAY_US },
        { resolution: '1h' as const, fromUs: T0_US + DAY_US, toUs: T0_US + DAY_US + 20 * HOUR_US },
        { resolution: '1m' as const, fromUs: T0_US + DAY_US + 20 * HOUR_US, toUs: to },
      ];
      const exact = (
        groups: Awaited<ReturnType<SeriesStore['readRollups']>>,
        by: (r: ReadingRow) => string,
      ) => {
        const want = new Map<string, { rows: number; sum: number; max: number; min: number }>();
        for (const r of rows) {
          if (r.timeUs < from || r.timeUs >= to) continue;
          const m = want.get(by(r)) ?? { rows: 0, sum: 0, max: -Infinity, min: Infinity };
          want.set(by(r), {
            rows: m.rows + 1,
            sum: m.sum + r.value,
            max: Math.max(m.max, r.value),
            min: Math.min(m.min, r.value),
          });
        }
        expect(groups.map((g) => g.group[0]).sort()).toEqual([...want.keys()].sort());
        for (const g of groups) {
          const m = want.get(g.group[0]!)!;
          expect(g.rows).toBe(m.rows);
          expect(g.fields[0]!.sum).toBeCloseTo(m.sum, 6);
          expect(g.fields[0]!.max).toBe(m.max);
          expect(g.fields[0]!.sketch!.quantile(0)).toBe(m.min);
        }
      };
      // By site: hours from the level, minute edges and the unflushed third from raw rows.
      exact(
        await store.readRollups(sparse, {
          segments,
          keys: {},
          groupBy: ['site'],
          fields: ['value'],
          sketches: true,
        }),
        (r) => r.site,
      );
      // By device: no level holds it, so all from raw rows.
      exact(
        await store.readRollups(sparse, {
          segments,
          keys: {},
          groupBy: ['device_id'],
          fields: ['value'],
          sketches: true,
        }),
        (r) => r.device,
      );
    });

    it('drops rollups and the watermark with the dataset', async (ctx) => {
      needs(ctx, 'append', 'rollups');
      const store = current();
      const rows = threeDays(30);
      await rollUp(store, rows);
      await store.dropDataset('readings');
      await store.ensureDataset(layout);
      expect(await store.rollupWatermark('readings')).toBe(0);
      const all = await store.readRollups(layout, {
        segments: [{ resolution: '1d', fromUs: T0_US, toUs: T0_US + 3 * DAY_US }],
        keys: {},
        groupBy: [],
        fields: [],
        sketches: false,
      });
      expect(all).toEqual([]);
    });
  });
}

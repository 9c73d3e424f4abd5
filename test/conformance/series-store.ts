import { afterEach, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { isSluiceError } from '../../src/core/errors.js';
import {
  SERIES_AGGS,
  type KeyFilter,
  type ScanChunk,
  type SeriesCapability,
  type SeriesPoint,
  type SeriesStore,
} from '../../src/store/series-store.js';
import {
  EDGE_STRINGS,
  EDGE_TIMES_US,
  MINUTE_US,
  T0_US,
  dropEvery,
  expectedSeries,
  keptOnly,
  readingRows,
  readingsBatch,
  readingsLayout,
} from './series-fixtures.js';
import { runRollupConformance } from './series-rollups.js';

/**
 * The SeriesStore conformance suite: every adapter runs it. `make` returns an opened store (init
 * already called) on fresh, empty storage, and a cleanup that closes it and removes that storage.
 * Tests that need a capability the adapter does not declare are skipped with a visible note.
 */
export function runSeriesStoreConformance(
  name: string,
  make: () => Promise<{ store: SeriesStore; cleanup: () => Promise<void> }>,
): void {
  describe(`SeriesStore conformance: ${name}`, () => {
    let store: SeriesStore;
    let cleanup: () => Promise<void>;
    const layout = readingsLayout();

    beforeEach(async () => {
      ({ store, cleanup } = await make());
      await store.ensureDataset(layout);
    });
    afterEach(async () => {
      await cleanup();
    });

    function needs(ctx: TestContext, ...caps: SeriesCapability[]): void {
      const missing = caps.filter((c) => !store.capabilities.has(c));
      if (missing.length > 0) ctx.skip(`${name} does not declare ${missing.join(', ')}`);
    }

    async function scanAll(): Promise<{ chunks: ScanChunk[]; rows: ScannedRow[] }> {
      const chunks: ScanChunk[] = [];
      await store.scan(layout, (c) => {
        chunks.push(c);
      });
      return { chunks, rows: chunks.flatMap(rowsOfChunk) };
    }

    it('declares only known capabilities, and refuses undeclared ones with capability_missing', async (ctx) => {
      const known: SeriesCapability[] = ['append', 'series', 'latest', 'scan', 'rollups', 'retention'];
      for (const c of store.capabilities) expect(known).toContain(c);
      const undeclared = known.filter((c) => !store.capabilities.has(c));
      if (undeclared.length === 0) ctx.skip(`${name} declares every capability`);
      const calls: Record<SeriesCapability, () => Promise<unknown>> = {
        append: () => store.append(layout, readingsBatch(readingRows(3))),
        series: () => store.series(layout, { keys: {}, agg: 'mean', limit: 10 }),
        latest: () => store.latest(layout, {}),
        scan: () => store.scan(layout, () => undefined),
        rollups: () => store.rollupWatermark('readings'),
        retention: () => store.dropExpired(layout, { rawBeforeUs: 0, rollupsBeforeUs: 0 }),
      };
      for (const c of undeclared) {
        const err: unknown = await calls[c]().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isSluiceError(err) && err.code, `calling ${c}`).toBe('capability_missing');
      }
    });

    it('returns stored hashes by day, untimed, all, as a probe, and refuses more than a limit', async (ctx) => {
      needs(ctx, 'append');
      const DAY = 86_400_000_000;
      const rows = readingRows(90).map((r, i) => ({
        ...r,
        timeUs: i % 10 === 9 ? NaN : T0_US + (i % 3) * DAY + i * 1_000_000,
        hash: 1000 + i,
      }));
      await store.append(layout, readingsBatch(rows));
      const sorted = (a: Float64Array | undefined) => [...(a ?? [])].sort((x, y) => x - y);
      const want = (pick: (r: (typeof rows)[number]) => boolean) =>
        rows
          .filter(pick)
          .map((r) => r.hash)
          .sort((x, y) => x - y);
      const day1 = { fromUs: T0_US + DAY, toUs: T0_US + 2 * DAY };
      expect(sorted(await store.storedHashes(layout, { time: day1 }))).toEqual(
        want((r) => r.timeUs >= day1.fromUs && r.timeUs < day1.toUs),
      );
      expect(sorted(await store.storedHashes(layout, { time: null }))).toEqual(
        want((r) => Number.isNaN(r.timeUs)),
      );
      expect(sorted(await store.storedHashes(layout, {}))).toEqual(want(() => true));
      const among = Float64Array.from([1000, 1001, 5, 1089, 77]);
      expect(sorted(await store.storedHashes(layout, { among }))).toEqual([1000, 1001, 1089]);
      expect(await store.storedHashes(layout, { limit: 89 })).toBeUndefined();
      expect((await store.storedHashes(layout, { limit: 90 }))?.length).toBe(90);
      expect(await store.storedHashes(readingsLayout('other'), {})).toEqual(new Float64Array(0));
    });

    it('drops rows whose hash is stored or repeated when no mask is given, and says which it kept', async (ctx) => {
      needs(ctx, 'append');
      const rows = readingRows(40);
      // Rows 5 and 6 repeat row 4 within the batch; the second batch repeats rows 0-9 and adds 10 new.
      const first = rows.slice(0, 30).map((r, i) => (i === 5 || i === 6 ? { ...rows[4]!, line: r.line } : r));
      const second = [...rows.slice(0, 10), ...rows.slice(30, 40)];
      const [a, b] = await store.appendMany(layout, [
        { batch: readingsBatch(first, { seq: 0 }) },
        { batch: readingsBatch(second, { seq: 1 }) },
      ]);
      expect(a).toMatchObject({ applied: true, inserted: 28, duplicate: 2 });
      expect([...a!.kept!].map((k, i) => (k === 0 ? i : -1)).filter((i) => i >= 0)).toEqual([5, 6]);
      // Rows 5 and 6 themselves were never stored: only their repeats of row 4 were dropped.
      expect(b).toMatchObject({ applied: true, inserted: 12, duplicate: 8 });
      expect([...b!.kept!]).toEqual([0, 0, 0, 0, 0, 1, 1, 0, 0, 0, ...new Array(10).fill(1)]);
      // Later, alone: every row is stored already.
      const c = await store.append(layout, readingsBatch(rows.slice(25, 35), { seq: 2 }));
      expect(c).toMatchObject({ applied: true, inserted: 0, duplicate: 10 });
      expect(await store.count(layout)).toBe(40);
      // A replay reports the recorded counts and no mask.
      const again = await store.append(layout, readingsBatch(first, { seq: 0 }));
      expect(again).toMatchObject({ applied: false, inserted: 28, duplicate: 2 });
      expect(again.kept).toBeUndefined();
    });

    it('appends a batch once and counts its rows', async (ctx) => {
      needs(ctx, 'append');
      expect(await store.count(layout)).toBe(0);
      expect(await store.isApplied('upload-1:0')).toBe(false);
      const r = await store.append(layout, readingsBatch(readingRows(500)));
      expect(r).toEqual({ applied: true, inserted: 500, duplicate: 0, seq: expect.any(Number) });
      expect(await store.count(layout)).toBe(500);
      expect(await store.isApplied('upload-1:0')).toBe(true);
      const r2 = await store.append(layout, readingsBatch(readingRows(20, 3, 600), { seq: 1 }));
      expect(r2).toEqual({ applied: true, inserted: 20, duplicate: 0, seq: expect.any(Number) });
      expect(await store.count(layout)).toBe(520);
    });

    it('ignores a replayed batch id and reports the recorded counts', async (ctx) => {
      needs(ctx, 'append');
      const rows = readingRows(300);
      const keep = dropEvery(300, 10);
      const first = await store.append(layout, readingsBatch(rows), keep);
      expect(first).toEqual({ applied: true, inserted: 270, duplicate: 30, seq: expect.any(Number) });
      // The replay carries a different keep mask: the recorded counts still win.
      const replay = await store.append(layout, readingsBatch(rows));
      expect(replay).toEqual({ applied: false, inserted: 270, duplicate: 30, seq: 0 });
      expect(await store.count(layout)).toBe(270);
    });

    it('appends a group of batches in one transaction, skipping ids already applied', async (ctx) => {
      needs(ctx, 'append');
      const b = (seq: number, n: number) => readingsBatch(readingRows(n, 3, 2 + seq * 1000), { seq });
      expect(await store.append(layout, b(1, 10))).toMatchObject({ applied: true });
      const results = await store.appendMany(layout, [
        { batch: b(0, 100) },
        { batch: b(1, 10) },
        { batch: b(2, 50), keep: dropEvery(50, 5) },
      ]);
      expect(results).toEqual([
        { applied: true, inserted: 100, duplicate: 0, seq: expect.any(Number) },
        { applied: false, inserted: 10, duplicate: 0, seq: 0 },
        { applied: true, inserted: 40, duplicate: 10, seq: expect.any(Number) },
      ]);
      expect(await store.count(layout)).toBe(150);
      // The same batch twice in one group (a log replayed after a crash) is applied once.
      const twice = await store.appendMany(layout, [{ batch: b(5, 30) }, { batch: b(5, 30) }]);
      expect(twice).toEqual([
        { applied: true, inserted: 30, duplicate: 0, seq: expect.any(Number) },
        { applied: false, inserted: 30, duplicate: 0, seq: 0 },
      ]);
      expect(await store.count(layout)).toBe(180);
      // A group with a poisoned batch applies none of its batches.
      const poisoned = b(4, 3000);
      (poisoned.timeUs as Float64Array)[2500] = Infinity;
      await expect(store.appendMany(layout, [{ batch: b(3, 20) }, { batch: poisoned }])).rejects.toSatisfy(
        isSluiceError,
      );
      expect(await store.isApplied(b(3, 20).id)).toBe(false);
      expect(await store.count(layout)).toBe(180);
    });

    it('stores a group spanning several days with every row under its own batch', async (ctx) => {
      needs(ctx, 'append', 'scan');
      const DAY_US = 86_400_000_000;
      // Rows cycle over three days; the middle batch is larger than one 2048-row chunk.
      const spread = (seq: number, n: number) =>
        readingsBatch(
          readingRows(n, 3, 2 + seq * 10_000).map((r, i) => ({ ...r, timeUs: r.timeUs + (i % 3) * DAY_US })),
          { seq },
        );
      const group = [spread(0, 50), spread(1, 4100), spread(2, 20)];
      const results = await store.appendMany(
        layout,
        group.map((batch) => ({ batch })),
      );
      expect(results.map((r) => [r.applied, r.inserted])).toEqual([
        [true, 50],
        [true, 4100],
        [true, 20],
      ]);
      const seqs = results.map((r) => r.seq);
      expect(new Set(seqs).size).toBe(3);
      const { chunks } = await scanAll();
      const batchOfHash = new Map<number, number>();
      group.forEach((b, k) => b.hashes!.forEach((h) => batchOfHash.set(h, k)));
      const seen = new Map<number, number>();
      for (const c of chunks)
        for (let i = 0; i < c.length; i++) {
          const k = batchOfHash.get(c.hashes![i]!);
          expect(k).toBeDefined();
          expect(c.seqs[i]).toBe(seqs[k!]);
          seen.set(k!, (seen.get(k!) ?? 0) + 1);
        }
      expect([...seen.entries()].sort()).toEqual([
        [0, 50],
        [1, 4100],
        [2, 20],
      ]);
      for (const [k, b] of group.entries()) expect(await store.isApplied(b.id), `batch ${k}`).toBe(true);
    });

    it('applies exactly one of two concurrent appends of the same batch id', async (ctx) => {
      needs(ctx, 'append');
      const batch = readingsBatch(readingRows(200));
      const results = await Promise.all([store.append(layout, batch), store.append(layout, batch)]);
      expect(results.filter((r) => r.applied)).toHaveLength(1);
      expect(results.map((r) => [r.inserted, r.duplicate])).toEqual([
        [200, 0],
        [200, 0],
      ]);
      expect(await store.count(layout)).toBe(200);
    });

    it('serialises concurrent appends of different batches and reads alongside them', async (ctx) => {
      needs(ctx, 'append');
      const batches = Array.from({ length: 6 }, (_, s) =>
        readingsBatch(readingRows(250, 3, 2 + s * 250), { seq: s }),
      );
      const [results, counts] = await Promise.all([
        Promise.all(batches.map((b) => store.append(layout, b))),
        Promise.all(batches.map(() => store.count(layout))),
      ]);
      expect(results.every((r) => r.applied && r.inserted === 250)).toBe(true);
      for (const c of counts) expect([0, 250, 500, 750, 1000, 1250, 1500]).toContain(c);
      expect(await store.count(layout)).toBe(1500);
    });

    it('stores only the rows the keep mask keeps', async (ctx) => {
      needs(ctx, 'append', 'scan');
      const rows = readingRows(100);
      const keep = dropEvery(100, 3);
      const r = await store.append(layout, readingsBatch(rows), keep);
      const kept = keptOnly(rows, keep);
      expect(r).toEqual({
        applied: true,
        inserted: kept.length,
        duplicate: 100 - kept.length,
        seq: expect.any(Number),
      });
      const { rows: scanned } = await scanAll();
      expect(scanned.map((s) => s.hash).sort((a, b) => a - b)).toEqual(
        kept.map((k) => k.hash).sort((a, b) => a - b),
      );
    });

    it('records a batch whose rows are all dropped', async (ctx) => {
      needs(ctx, 'append');
      const r = await store.append(layout, readingsBatch(readingRows(10)), new Uint8Array(10));
      expect(r).toEqual({ applied: true, inserted: 0, duplicate: 10, seq: expect.any(Number) });
      expect(await store.isApplied('upload-1:0')).toBe(true);
      expect(await store.count(layout)).toBe(0);
    });

    it('round-trips every scanned column, in chunks', async (ctx) => {
      needs(ctx, 'append', 'scan');
      const rows = readingRows(3000);
      await store.append(layout, readingsBatch(rows.slice(0, 1000)));
      await store.append(layout, readingsBatch(rows.slice(1000), { seq: 1 }));
      const { chunks, rows: scanned } = await scanAll();
      expect(chunks.reduce((n, c) => n + c.length, 0)).toBe(3000);
      for (const c of chunks) {
        expect(c.keys).toHaveLength(2);
        expect(c.fields).toHaveLength(2);
        for (const k of c.keys) expect(k).toHaveLength(c.length);
        expect(c.timeUs).not.toBeNull();
        expect(c.hashes).not.toBeNull();
      }
      const byHash = new Map(rows.map((r) => [r.hash, r]));
      expect(scanned).toHaveLength(3000);
      for (const s of scanned) {
        const r = byHash.get(s.hash)!;
        expect(s).toEqual({
          keys: [r.device, r.site],
          timeUs: r.timeUs,
          fields: [r.value, r.temp],
          hash: r.hash,
        });
      }
    });

    describe('series', () => {
      const rows = readingRows(900);
      const fields = ['value', 'temp'];
      const variants: { label: string; keys: KeyFilter; stepMs: number; fromUs?: number; toUs?: number }[] = [
        { label: 'all keys, 1m buckets', keys: {}, stepMs: 60_000 },
        {
          label: 'two devices, 10m buckets, time bounds',
          keys: { device_id: ['dev-0', 'dev-2'] },
          stepMs: 600_000,
          fromUs: T0_US + 7 * MINUTE_US + 3_000_000,
          toUs: T0_US + 52 * MINUTE_US,
        },
        {
          label: 'key filter on two columns, 5m buckets',
          keys: { device_id: ['dev-0', 'dev-1'], site: ['south'] },
          stepMs: 300_000,
          fromUs: T0_US,
        },
      ];

      beforeEach(async () => {
        if (!store.capabilities.has('append')) return;
        await store.append(layout, readingsBatch(rows.slice(0, 450)));
        await store.append(layout, readingsBatch(rows.slice(450), { seq: 1 }));
      });

      for (const agg of SERIES_AGGS) {
        for (const v of variants) {
          it(`${agg}: ${v.label}`, async (ctx) => {
            needs(ctx, 'append', 'series');
            const q = { ...v, agg, fields, limit: 10_000 };
            expectPoints(await store.series(layout, q), expectedSeries(rows, q));
          });
        }
      }

      it('returns raw rows without a step, earliest first up to the limit, ordered by keys then time', async (ctx) => {
        needs(ctx, 'append', 'series');
        const q = {
          keys: { site: ['north'] },
          fromUs: T0_US + 2 * MINUTE_US,
          toUs: T0_US + 9 * MINUTE_US,
          agg: 'mean' as const,
          fields: ['temp'],
          limit: 25,
        };
        const got = await store.series(layout, q);
        expect(got).toHaveLength(25);
        expectPoints(got, expectedSeries(rows, q));
      });

      it('returns the requested fields in request order, all fields by default', async (ctx) => {
        needs(ctx, 'append', 'series');
        const base = { keys: { device_id: ['dev-1'] }, stepMs: 3_600_000, agg: 'max' as const, limit: 100 };
        const swapped = await store.series(layout, { ...base, fields: ['temp', 'value'] });
        const all = await store.series(layout, base);
        expectPoints(swapped, expectedSeries(rows, { ...base, fields: ['temp', 'value'] }));
        expectPoints(all, expectedSeries(rows, { ...base, fields: ['value', 'temp'] }));
      });

      it('returns nothing for an empty key filter or an empty range', async (ctx) => {
        needs(ctx, 'append', 'series');
        expect(await store.series(layout, { keys: { device_id: [] }, agg: 'sum', limit: 10 })).toEqual([]);
        expect(
          await store.series(layout, { keys: {}, fromUs: T0_US - 10, toUs: T0_US, agg: 'sum', limit: 10 }),
        ).toEqual([]);
        expect(
          await store.series(layout, { keys: { device_id: ["x' OR '1'='1"] }, agg: 'sum', limit: 10 }),
        ).toEqual([]);
      });
    });

    it('returns the latest row for a key, with every column', async (ctx) => {
      needs(ctx, 'append', 'latest');
      const rows = readingRows(60);
      // Older rows arrive in the second batch: latest is by time, not by arrival.
      await store.append(layout, readingsBatch(rows.slice(30)));
      await store.append(layout, readingsBatch(rows.slice(0, 30), { seq: 1 }));
      for (const device of ['dev-0', 'dev-1', 'dev-2']) {
        const mine = rows.filter((r) => r.device === device);
        const want = mine.reduce((a, b) => (b.timeUs > a.timeUs ? b : a));
        const got = await store.latest(layout, { device_id: [device] });
        expect(got).toEqual({
          keys: [want.device, want.site],
          timeUs: want.timeUs,
          fields: [want.value, Number.isNaN(want.temp) ? null : want.temp],
          payloads: [want.data],
          attributes: [want.note],
        });
      }
      const any = await store.latest(layout, {});
      expect(any?.timeUs).toBe(Math.max(...rows.map((r) => r.timeUs)));
      expect(await store.latest(layout, { device_id: ['nobody'] })).toBeUndefined();
    });

    it('filters by a long key list (a bulk read) exactly like by a short one', async (ctx) => {
      needs(ctx, 'append', 'series');
      const rows = readingRows(90);
      await store.append(layout, readingsBatch(rows));
      const devices = [...new Set(rows.map((r) => r.device))];
      // Padding makes the list long; the odd values must match nothing rather than break the query.
      const padding = Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? `none-${i}` : `x' OR '1'='1 ${i}`));
      const query = (keys: string[]) =>
        store.series(layout, { keys: { device_id: keys }, agg: 'sum', limit: 1000 });
      const short = await query(devices);
      expect(short.length).toBeGreaterThan(0);
      expect(await query([...padding, ...devices])).toEqual(short);
      expect(await query(padding)).toEqual([]);
      expect(await store.latestMany(layout, { device_id: [...padding, ...devices] })).toEqual(
        await store.latestMany(layout, { device_id: devices }),
      );
    });

    it('returns the latest row of many series in one call, the same as one latest call each', async (ctx) => {
      needs(ctx, 'append', 'latest');
      const rows = readingRows(90);
      await store.append(layout, readingsBatch(rows.slice(45)));
      await store.append(layout, readingsBatch(rows.slice(0, 45), { seq: 1 }));
      const devices = [...new Set(rows.map((r) => r.device))];
      const many = await store.latestMany(layout, { device_id: [...devices, 'nobody'] });
      const one = [];
      for (const series of new Set(rows.map((r) => `${r.device}\u001f${r.site}`))) {
        const [device, site] = series.split('\u001f');
        one.push(await store.latest(layout, { device_id: [device!], site: [site!] }));
      }
      const byKeys = (a: { keys: string[] } | undefined, b: { keys: string[] } | undefined): number =>
        a!.keys.join('\u001f') < b!.keys.join('\u001f') ? -1 : 1;
      expect(many).toEqual(one.sort(byKeys));
      expect(await store.latestMany(layout, { device_id: ['nobody'] })).toEqual([]);
      expect(await store.latestMany(layout, { device_id: [] })).toEqual([]);
    });

    it('drops a dataset with its rows and its applied batch ids, leaving others alone', async (ctx) => {
      needs(ctx, 'append');
      const other = readingsLayout('other_readings');
      await store.ensureDataset(other);
      await store.append(layout, readingsBatch(readingRows(40)));
      await store.append(
        other,
        readingsBatch(readingRows(15), { dataset: 'other_readings', source: 'up-2' }),
      );
      await store.dropDataset('readings');
      expect(await store.isApplied('upload-1:0')).toBe(false);
      expect(await store.isApplied('up-2:0')).toBe(true);
      expect(await store.count(other)).toBe(15);
      await store.ensureDataset(layout);
      expect(await store.count(layout)).toBe(0);
      // The dropped batch ids may be applied again.
      expect((await store.append(layout, readingsBatch(readingRows(40)))).applied).toBe(true);
      expect(await store.count(layout)).toBe(40);
    });

    it('rejects a batch that does not fit the layout and writes nothing', async (ctx) => {
      needs(ctx, 'append');
      const good = readingsBatch(readingRows(50));
      const wrong = { ...good, fields: [good.fields[0]!] };
      await expect(store.append(layout, wrong)).rejects.toSatisfy(isSluiceError);
      expect(await store.isApplied(good.id)).toBe(false);
      expect(await store.count(layout)).toBe(0);
      expect((await store.append(layout, good)).applied).toBe(true);
    });

    it('leaves nothing half-written when a row late in the batch cannot be stored', async (ctx) => {
      needs(ctx, 'append');
      const rows = readingRows(5000);
      const poisoned = readingsBatch(rows);
      // Far past the 2048- and 4096-row marks, so earlier rows were already handed to the engine.
      (poisoned.timeUs as Float64Array)[4500] = Infinity;
      await expect(store.append(layout, poisoned)).rejects.toSatisfy(isSluiceError);
      expect(await store.isApplied(poisoned.id)).toBe(false);
      expect(await store.count(layout)).toBe(0);
      // The store is still usable, and the same id can be applied once fixed.
      expect(await store.append(layout, readingsBatch(rows))).toEqual({
        applied: true,
        inserted: 5000,
        duplicate: 0,
        seq: expect.any(Number),
      });
      expect(await store.count(layout)).toBe(5000);
    });

    // Batches span several of an engine's internal chunks (DuckDB's hold 2048 rows), and missing
    // values sit in the first chunk only, so a chunk that inherited the previous one's NULLs would show.
    const CHUNKED_ROWS = 4500;
    const FIRST_CHUNK = 2048;

    it('round-trips times exactly, before 1970 and up to 2^53, and keeps missing times missing', async (ctx) => {
      needs(ctx, 'append', 'scan');
      const rows = readingRows(CHUNKED_ROWS).map((r, i) => ({
        ...r,
        timeUs:
          i < FIRST_CHUNK && i % 11 === 5
            ? NaN
            : i % 3 === 0
              ? EDGE_TIMES_US[(i / 3) % EDGE_TIMES_US.length]!
              : r.timeUs,
      }));
      await store.append(layout, readingsBatch(rows));
      const { rows: scanned } = await scanAll();
      expect(scanned).toHaveLength(rows.length);
      const timeOf = new Map(scanned.map((s) => [s.hash, s.timeUs]));
      const wrong = rows.filter((r) => !Object.is(timeOf.get(r.hash), r.timeUs));
      expect(wrong.map((r) => [r.line, r.timeUs, timeOf.get(r.hash)]).slice(0, 5)).toEqual([]);
      expect(scanned.filter((s) => Number.isNaN(s.timeUs)).length).toBe(
        rows.filter((r) => Number.isNaN(r.timeUs)).length,
      );
    });

    it('round-trips strings of every length and alphabet, and keeps missing values missing', async (ctx) => {
      needs(ctx, 'append', 'scan', 'latest');
      const edge = (i: number): string => EDGE_STRINGS[i % EDGE_STRINGS.length]!;
      const rows = readingRows(CHUNKED_ROWS).map((r, i) => ({
        ...r,
        device: `dev-${i}`,
        site: edge(i),
        temp: i < FIRST_CHUNK && i % 4 === 1 ? NaN : 20 + (i % 9),
        data: i < FIRST_CHUNK && i % 6 === 2 ? null : edge(i + 5),
        note: i < FIRST_CHUNK && i % 5 === 0 ? null : edge(i + 9),
      }));
      const keep = dropEvery(rows.length, 13);
      await store.append(layout, readingsBatch(rows), keep);
      const kept = keptOnly(rows, keep);
      const { rows: scanned } = await scanAll();
      const byHash = new Map(scanned.map((s) => [s.hash, s]));
      expect(scanned).toHaveLength(kept.length);
      for (const r of kept) {
        expect(byHash.get(r.hash), `line ${r.line}`).toEqual({
          keys: [r.device, r.site],
          timeUs: r.timeUs,
          fields: [r.value, r.temp],
          hash: r.hash,
        });
      }
      // Filters compare the stored strings themselves, not only their decoded text.
      for (const site of EDGE_STRINGS) {
        const points = await store.series(layout, {
          keys: { site: [site] },
          stepMs: 86_400_000,
          agg: 'count',
          fields: ['value'],
          limit: 10_000,
        });
        expect(points.length, JSON.stringify(site)).toBe(kept.filter((r) => r.site === site).length);
      }
      // Payloads and attributes are only read back through `latest`; sample every chunk.
      for (let i = 0; i < kept.length; i += 37) {
        const r = kept[i]!;
        const got = await store.latest(layout, { device_id: [r.device] });
        expect(got, `line ${r.line}`).toEqual({
          keys: [r.device, r.site],
          timeUs: r.timeUs,
          fields: [r.value, Number.isNaN(r.temp) ? null : r.temp],
          payloads: [r.data],
          attributes: [r.note],
        });
      }
    });

    runRollupConformance(name, () => store, needs);

    it('reads an unknown dataset as empty', async () => {
      const ghost = readingsLayout('never_created');
      expect(await store.count(ghost)).toBe(0);
      if (store.capabilities.has('series'))
        expect(await store.series(ghost, { keys: {}, agg: 'count', limit: 10 })).toEqual([]);
      if (store.capabilities.has('latest')) expect(await store.latest(ghost, {})).toBeUndefined();
    });
  });
}

interface ScannedRow {
  keys: string[];
  timeUs: number | null;
  fields: number[];
  hash: number;
}

function rowsOfChunk(c: ScanChunk): ScannedRow[] {
  return Array.from({ length: c.length }, (_, i) => ({
    keys: c.keys.map((k) => k[i]!),
    timeUs: c.timeUs === null ? null : c.timeUs[i]!,
    fields: c.fields.map((f) => f[i]!),
    hash: c.hashes === null ? NaN : c.hashes[i]!,
  }));
}

/** Keys and times exactly, values to 1e-9 relative: engines may sum in another order. */
function expectPoints(got: SeriesPoint[], want: SeriesPoint[]): void {
  expect(got.map((p) => [p.keys, p.timeUs])).toEqual(want.map((p) => [p.keys, p.timeUs]));
  got.forEach((p, i) => {
    const w = want[i]!;
    expect(p.values).toHaveLength(w.values.length);
    p.values.forEach((v, j) => {
      const x = w.values[j]!;
      if (x === null) expect(v, `point ${i} value ${j}`).toBeNull();
      else
        expect(Math.abs(v! - x), `point ${i} value ${j}: ${v} vs ${x}`).toBeLessThanOrEqual(
          1e-9 * Math.max(1, Math.abs(x)),
        );
    });
  });
}

import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { RESOLUTION_US, seriesIdOf, type RollupResolution } from '../../apply/rollups/rollup-cell.js';
import type { RollupRows } from '../../apply/rollups/rollup-accumulator.js';
import { levelFor, rollupLevelsOf, servingResolution } from '../../apply/rollups/rollup-levels.js';
import type { DatasetLayout } from '../../core/dataset.js';
import type { RollupGroup, RollupQuery } from '../../store/series-store.js';
import type { StatsSnapshot } from '../stats-snapshot.js';
import { clearCell, fieldAggregateOf, mergeCellInto, strideOf, writeCell } from './cell-table.js';
import {
  COLD_BLOCK_US,
  ColdRollupBlocks,
  coldBlockOf,
  levelCellsQuery,
  type RollupRead,
} from './cold-rollup-blocks.js';
import { LiveLevel } from './live-level.js';

const HOUR_US = RESOLUTION_US['1h'];
const DAY_US = RESOLUTION_US['1d'];

/**
 * How far back each resolution's cells stay in memory: minute cells for a day and a bit (any window
 * up to a day, ending now, reads no older minutes), hour cells for 35 days (a 30-day window's
 * ragged hours), day cells for as long as the rollups keep them. Older cells are read from the store
 * in blocks and kept a while (`ColdRollupBlocks`).
 */
const LIVE_SPAN_US: Readonly<Record<'1m' | '1h', number>> = {
  '1m': 26 * HOUR_US,
  '1h': 35 * DAY_US,
};

/** A read that needs more cold blocks than this is left to the store. */
const MAX_COLD_BLOCKS_PER_READ = 4;

/** Far enough ahead for any row's time (the year 10000). */
const END_OF_TIME_US = 253_402_300_800_000_000;

interface LiveDataset {
  readonly layout: DatasetLayout;
  /** Levels kept in memory, by suffix; a level that passed the series limit is gone from here. */
  readonly levels: Map<string, LiveLevel>;
}

/** A group being added up: its key values, step bucket and cell. */
interface Sum {
  readonly group: string[];
  readonly bucketUs: number;
  readonly at: number;
}

/**
 * Rollup cells of the levels with few series (`rollups.live_series` at most: endpoints, status codes,
 * a whole dataset) kept in memory on the event loop's thread, so top-K and daily history over them
 * are answered without the store, in well under a millisecond, however busy ingest keeps the store.
 * The Applier folds every newly applied row in (after dedup, as it does statistics) and rebuilds
 * them from the store's rollups at start, so they hold exactly what the store's rollup read returns:
 * the answers are the same, only faster. Cells past their resolution's live span come from the
 * store a block at a time (`ColdRollupBlocks`); a level that grows past the series limit is dropped
 * and its reads go to the store again.
 */
export class LiveRollups {
  private readonly datasets = new Map<string, LiveDataset>();
  private readonly cold: ColdRollupBlocks;
  /**
   * Where each resolution's live span starts, aligned to cold blocks so a block is never half live.
   * Day cells are all live from the epoch on; older rows are read from the store like cold cells.
   */
  private readonly liveFrom: Record<RollupResolution, number> = { '1m': 0, '1h': 0, '1d': 0 };

  constructor(
    private readonly deps: {
      /** The store's rollup read, for rebuilds and cold blocks. */
      read: RollupRead;
      maxSeries: number;
      log: Logger;
      /** Where `sluice_live_rollup_cells` is registered. */
      metrics?: Registry;
      nowMs?: () => number;
    },
  ) {
    this.cold = new ColdRollupBlocks(deps.read);
    this.advance();
    const cells = () => this.cellCount;
    if (deps.metrics !== undefined)
      new Gauge({
        name: 'sluice_live_rollup_cells',
        help: 'Rollup cells kept in memory for top-K and history (rollups.live_series), about 90 bytes each',
        registers: [deps.metrics],
        collect() {
          this.set(cells());
        },
      });
  }

  /**
   * Loads the dataset's levels with few series from the store. The Applier calls it with nothing
   * applied meanwhile. The series count is bounded from the statistics snapshot's distinct key values.
   */
  async rebuild(layout: DatasetLayout, snapshot: StatsSnapshot): Promise<void> {
    const name = layout.spec.name;
    this.forget(name);
    const live: LiveDataset = { layout, levels: new Map() };
    this.advance();
    for (const level of rollupLevelsOf(layout)) {
      let bound = 1;
      for (const c of level.columns) bound *= snapshot.keyCount(name, c);
      if (this.deps.maxSeries === 0 || bound > this.deps.maxSeries) continue;
      const state = new LiveLevel(level, layout.fields.length);
      for (const res of level.resolutions) await this.load(layout, state, res);
      live.levels.set(level.suffix, state);
    }
    this.datasets.set(name, live);
  }

  private async load(layout: DatasetLayout, state: LiveLevel, res: RollupResolution): Promise<void> {
    const groups = await this.deps.read(
      layout,
      levelCellsQuery(layout, state.level, res, this.liveFrom[res], END_OF_TIME_US),
    );
    const i = state.level.resolutions.indexOf(res);
    for (const g of groups) {
      const table = state.seriesOf(g.group).tables[i]!;
      const at = table.cellAt(g.bucketUs); // may grow `values`: read it after
      writeCell(table.values, at, g.rows, g.fields);
    }
  }

  /** Folds rows [from, to) of a newly applied batch, those whose `keep` is 1. */
  add(
    layout: DatasetLayout,
    rows: RollupRows,
    keep: Uint8Array | undefined,
    from = 0,
    to = rows.length,
  ): void {
    const live = this.datasets.get(layout.spec.name);
    if (live === undefined || live.layout !== layout || rows.timeUs === null) return;
    this.advance();
    const name = layout.spec.name;
    for (const [suffix, state] of live.levels) {
      const liveFrom = state.level.resolutions.map((r) => this.liveFrom[r]);
      const late = (res: RollupResolution, b: number) => this.cold.changed(name, state.level, res, b);
      if (!state.add(rows, keep, from, to, liveFrom, this.deps.maxSeries, late)) {
        live.levels.delete(suffix);
        this.deps.log.info(
          { dataset: name, level: state.level.columns, limit: this.deps.maxSeries },
          'rollup level has more series than rollups.live_series; its reads go to the store',
        );
      }
    }
  }

  /**
   * The store's rollup read answered from memory, or undefined when memory cannot answer it: the
   * level it reads is not in memory, it asks for quantile sketches, or it reaches far into the past.
   */
  read(layout: DatasetLayout, q: RollupQuery): Promise<RollupGroup[]> | undefined {
    const live = this.datasets.get(layout.spec.name);
    if (q.sketches || live === undefined || live.layout !== layout) return undefined;
    const level = levelFor(layout, [...q.groupBy, ...Object.keys(q.keys)]);
    const state = level === undefined ? undefined : live.levels.get(level.suffix);
    if (state === undefined) return undefined;
    this.advance();
    const plan = this.plan(state, q);
    if (plan === undefined) return undefined;
    return Promise.all(
      plan.cold.map(({ res, blockUs }) => this.cold.get(layout, state.level, res, blockUs)),
    ).then((blocks) => this.sum(layout, state, q, plan.live, plan.cold, blocks));
  }

  /** Splits the query's stretches into live ones and cold blocks; undefined when it is not servable. */
  private plan(state: LiveLevel, q: RollupQuery): { live: Stretch[]; cold: ColdStretch[] } | undefined {
    const live: Stretch[] = [];
    const cold: ColdStretch[] = [];
    for (const s of q.segments) {
      if (!(s.toUs > s.fromUs)) continue;
      const res = servingResolution(state.level, s.resolution);
      if (res === undefined) return undefined;
      const i = state.level.resolutions.indexOf(res);
      const liveFrom = this.liveFrom[res];
      if (s.toUs > liveFrom) live.push({ i, res, fromUs: Math.max(s.fromUs, liveFrom), toUs: s.toUs });
      for (let b = coldBlockOf(s.fromUs, res); b < Math.min(s.toUs, liveFrom); b += COLD_BLOCK_US[res]) {
        if (cold.length === MAX_COLD_BLOCKS_PER_READ) return undefined;
        cold.push({
          res,
          blockUs: b,
          fromUs: Math.max(s.fromUs, b),
          toUs: Math.min(s.toUs, liveFrom, b + COLD_BLOCK_US[res]),
        });
      }
    }
    return { live, cold };
  }

  private sum(
    layout: DatasetLayout,
    state: LiveLevel,
    q: RollupQuery,
    live: readonly Stretch[],
    cold: readonly ColdStretch[],
    blocks: readonly RollupGroup[][],
  ): RollupGroup[] {
    const columns = state.level.columns;
    const groupAt = q.groupBy.map((c) => columns.indexOf(c));
    const filters = Object.entries(q.keys).map(([c, values]) => ({
      at: columns.indexOf(c),
      values: new Set(values),
    }));
    const fieldAt = q.fields.map((f) => layout.fields.findIndex((d) => d.name === f));
    const fieldCount = layout.fields.length;
    const stride = strideOf(fieldCount);
    const step = q.stepUs;
    const sums = new Map<string, Sum>();
    let out = new Float64Array(stride * 16);
    const matches = (keys: readonly string[]) => filters.every((f) => f.values.has(keys[f.at]!));
    const sumOf = (keys: readonly string[], bucketUs: number): number => {
      const group = groupAt.map((k) => keys[k]!);
      const b = step === undefined ? 0 : Math.floor(bucketUs / step) * step;
      const id = step === undefined ? seriesIdOf(group) : `${seriesIdOf(group)}\u001f${b}`;
      let s = sums.get(id);
      if (s === undefined) {
        const at = sums.size * stride;
        if (at + stride > out.length) {
          const grown = new Float64Array(out.length * 2);
          grown.set(out);
          out = grown;
        }
        clearCell(out, at, fieldCount);
        s = { group, bucketUs: b, at };
        sums.set(id, s);
      }
      return s.at;
    };
    for (const series of state.series.values()) {
      if (!matches(series.keys)) continue;
      // Without a step, every cell of a series goes to one group: look it up once.
      let whole = -1;
      for (const st of live) {
        const table = series.tables[st.i]!;
        table.forEachIn(st.fromUs, st.toUs, RESOLUTION_US[st.res], (at, b) => {
          let into: number;
          if (step !== undefined) into = sumOf(series.keys, b);
          else {
            if (whole < 0) whole = sumOf(series.keys, 0);
            into = whole;
          }
          mergeCellInto(out, into, table.values, at, fieldCount);
        });
      }
    }
    const cell = new Float64Array(stride);
    cold.forEach((st, n) => {
      for (const g of blocks[n]!) {
        if (g.bucketUs < st.fromUs || g.bucketUs >= st.toUs || !matches(g.group)) continue;
        writeCell(cell, 0, g.rows, g.fields);
        mergeCellInto(out, sumOf(g.group, g.bucketUs), cell, 0, fieldCount);
      }
    });
    return [...sums.values()].map((s) => ({
      group: s.group,
      bucketUs: s.bucketUs,
      rows: out[s.at]!,
      fields: fieldAt.map((f) => fieldAggregateOf(out, s.at, f)),
    }));
  }

  /** Drops cells whose bucket ends at or before the rollup retention cutoff, as the store does. */
  expire(dataset: string, rollupsBeforeUs: number): void {
    const live = this.datasets.get(dataset);
    if (live === undefined) return;
    this.cold.forget(dataset);
    for (const state of live.levels.values())
      for (const series of state.series.values())
        state.widths.forEach((w, i) => series.tables[i]!.dropBefore(rollupsBeforeUs - w + 1));
  }

  forget(dataset: string): void {
    this.datasets.delete(dataset);
    this.cold.forget(dataset);
  }

  /** Cells held in memory, over every dataset (`sluice_live_rollup_cells`). */
  get cellCount(): number {
    let n = 0;
    for (const live of this.datasets.values())
      for (const state of live.levels.values())
        for (const series of state.series.values()) for (const t of series.tables) n += t.size;
    return n;
  }

  /** Moves the live spans forward with the clock, dropping the cells that left them. */
  private advance(): void {
    const nowUs = (this.deps.nowMs?.() ?? Date.now()) * 1000;
    let moved = false;
    for (const res of ['1m', '1h'] as const) {
      const from = coldBlockOf(nowUs - LIVE_SPAN_US[res], res);
      if (from > this.liveFrom[res]) {
        this.liveFrom[res] = from;
        moved = true;
      }
    }
    if (!moved) return;
    for (const live of this.datasets.values())
      for (const state of live.levels.values())
        for (const series of state.series.values())
          state.level.resolutions.forEach((r, i) => series.tables[i]!.dropBefore(this.liveFrom[r]));
  }
}

interface Stretch {
  /** Index of the resolution in the level's. */
  readonly i: number;
  readonly res: RollupResolution;
  readonly fromUs: number;
  readonly toUs: number;
}

interface ColdStretch {
  readonly res: RollupResolution;
  readonly blockUs: number;
  readonly fromUs: number;
  readonly toUs: number;
}

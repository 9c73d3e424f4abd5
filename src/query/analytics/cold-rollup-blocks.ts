import { RESOLUTION_US, type RollupResolution } from '../../apply/rollups/rollup-cell.js';
import type { RollupLevel } from '../../apply/rollups/rollup-levels.js';
import type { DatasetLayout } from '../../core/dataset.js';
import type { RollupGroup, RollupQuery } from '../../store/series-store.js';

/** The block a cold cell is fetched in: an hour of minute cells, a day of hour cells. */
export const COLD_BLOCK_US: Readonly<Record<RollupResolution, number>> = {
  '1m': RESOLUTION_US['1h'],
  '1h': RESOLUTION_US['1d'],
  // Day cells are all kept in memory; never read as blocks.
  '1d': RESOLUTION_US['1d'],
};

export const coldBlockOf = (bucketUs: number, res: RollupResolution): number =>
  Math.floor(bucketUs / COLD_BLOCK_US[res]) * COLD_BLOCK_US[res];

export type RollupRead = (layout: DatasetLayout, q: RollupQuery) => Promise<RollupGroup[]>;

/** The store read of a level's cells at `res` in [fromUs, toUs): one group per series and bucket. */
export function levelCellsQuery(
  layout: DatasetLayout,
  level: RollupLevel,
  res: RollupResolution,
  fromUs: number,
  toUs: number,
): RollupQuery {
  return {
    segments: [{ resolution: res, fromUs, toUs }],
    keys: {},
    groupBy: level.columns,
    fields: layout.fields.map((f) => f.name),
    stepUs: RESOLUTION_US[res],
    sketches: false,
  };
}

/**
 * Cells older than what `LiveRollups` keeps in memory, read from the store a block at a time and
 * kept, most recently used first, up to `maxBlocks`. A window's far edge (the first hour of a 30-day
 * window) then costs one store read an hour, not one per request. A row applied into a block drops
 * it; a read that a row overtook answers its own request but is not kept.
 */
export class ColdRollupBlocks {
  private readonly blocks = new Map<string, Promise<RollupGroup[]>>();
  /** Per block, how often rows changed it; a read started before a change is not kept. */
  private readonly changes = new Map<string, number>();
  /** Per dataset, how often all its blocks were dropped at once (`forget`). */
  private readonly epochs = new Map<string, number>();

  constructor(
    private readonly read: RollupRead,
    private readonly maxBlocks = 64,
  ) {}

  /** The level's cells at `res` in the block starting at `blockUs`, one group per series and bucket. */
  get(
    layout: DatasetLayout,
    level: RollupLevel,
    res: RollupResolution,
    blockUs: number,
  ): Promise<RollupGroup[]> {
    const key = blockKey(layout.spec.name, level, res, blockUs);
    const held = this.blocks.get(key);
    if (held !== undefined) {
      this.blocks.delete(key);
      this.blocks.set(key, held);
      return held;
    }
    const dataset = layout.spec.name;
    const seen = this.stateOf(key, dataset);
    const reading = this.read(
      layout,
      levelCellsQuery(layout, level, res, blockUs, blockUs + COLD_BLOCK_US[res]),
    );
    this.blocks.set(key, reading);
    const drop = () => {
      if (this.blocks.get(key) === reading) this.blocks.delete(key);
    };
    reading.then(() => {
      if (this.stateOf(key, dataset) !== seen) drop();
    }, drop);
    for (const oldest of this.blocks.keys()) {
      if (this.blocks.size <= this.maxBlocks) break;
      this.blocks.delete(oldest);
    }
    return reading;
  }

  /** A row was applied into the block holding `bucketUs`. */
  changed(dataset: string, level: RollupLevel, res: RollupResolution, bucketUs: number): void {
    const key = blockKey(dataset, level, res, coldBlockOf(bucketUs, res));
    this.changes.set(key, (this.changes.get(key) ?? 0) + 1);
    this.blocks.delete(key);
  }

  /** Drops every block of the dataset (deleted, rebuilt, or past retention). */
  forget(dataset: string): void {
    const prefix = `${dataset}\u0000`;
    for (const key of [...this.blocks.keys()]) if (key.startsWith(prefix)) this.blocks.delete(key);
    for (const key of [...this.changes.keys()]) if (key.startsWith(prefix)) this.changes.delete(key);
    this.epochs.set(dataset, (this.epochs.get(dataset) ?? 0) + 1);
  }

  private stateOf(key: string, dataset: string): string {
    return `${this.epochs.get(dataset) ?? 0}/${this.changes.get(key) ?? 0}`;
  }
}

function blockKey(dataset: string, level: RollupLevel, res: RollupResolution, blockUs: number): string {
  return `${dataset}\u0000${level.suffix}\u0000${res}\u0000${blockUs}`;
}

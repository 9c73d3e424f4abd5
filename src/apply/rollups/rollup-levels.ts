import type { DatasetLayout } from '../../core/dataset.js';
import { ROLLUP_RESOLUTIONS, type RollupResolution } from './rollup-cell.js';

/**
 * A rollup level: the series it keeps cells for (the distinct values of `columns`) and the bucket
 * widths it keeps. A request log keyed by user, endpoint and status has far more series than
 * endpoints; a level by `endpoint` alone answers top-K by endpoint from one cell per endpoint and
 * bucket, and a level that drops `1m` for sparse series (a device reporting every few minutes)
 * keeps no more cells than rows. Declared per dataset (`rollups`, see core/dataset.ts).
 */
export interface RollupLevel {
  /** Key columns of the level's series, in the dataset's key order; empty: the whole dataset. */
  readonly columns: readonly string[];
  /** Positions of `columns` in `layout.keys` of the dataset. */
  readonly keyIndexes: readonly number[];
  /** Kept resolutions, finest first. */
  readonly resolutions: readonly RollupResolution[];
  /** The dataset's layout with its keys narrowed to `columns`: what the level's cells hold. */
  readonly layout: DatasetLayout;
  /**
   * Table name suffix: '' for the full series (every key column), `@a@b` for a subset, `@_all` for
   * the whole dataset. `@` cannot appear in a dataset name and `_all` cannot be a column name.
   */
  readonly suffix: string;
}

const cache = new WeakMap<DatasetLayout, readonly RollupLevel[]>();

function levelOf(
  layout: DatasetLayout,
  by: readonly string[],
  resolutions: readonly RollupResolution[],
): RollupLevel {
  const wanted = new Set(by);
  const keyIndexes: number[] = [];
  layout.keys.forEach((k, i) => {
    if (wanted.has(k.name)) keyIndexes.push(i);
  });
  const keys = keyIndexes.map((i) => layout.keys[i]!);
  const columns = keys.map((k) => k.name);
  const full = columns.length === layout.keys.length;
  return {
    columns,
    keyIndexes,
    resolutions: ROLLUP_RESOLUTIONS.filter((r) => resolutions.includes(r)),
    layout: { ...layout, keys },
    suffix: full ? '' : columns.length === 0 ? '@_all' : columns.map((c) => `@${c}`).join(''),
  };
}

/**
 * The dataset's rollup levels, as declared, or by default the full series and, with several key
 * columns, each key column alone, all at 1m, 1h and 1d. Replace-mode datasets keep none.
 */
export function rollupLevelsOf(layout: DatasetLayout): readonly RollupLevel[] {
  let levels = cache.get(layout);
  if (levels !== undefined) return levels;
  if (layout.spec.mode !== 'append' || layout.time === undefined) levels = [];
  else if (layout.spec.rollups !== undefined)
    levels = layout.spec.rollups.map((l) => levelOf(layout, l.by, l.resolutions));
  else {
    const all = layout.keys.map((k) => k.name);
    const defaults = [levelOf(layout, all, ROLLUP_RESOLUTIONS)];
    if (all.length > 1) for (const k of all) defaults.push(levelOf(layout, [k], ROLLUP_RESOLUTIONS));
    levels = defaults;
  }
  cache.set(layout, levels);
  return levels;
}

/**
 * The level that answers a read grouped by and filtered on `columns`: one holding all of them, with
 * the fewest columns (fewest cells), the first declared on a tie. Undefined when no level holds them
 * all; the read then comes from raw rows.
 */
export function levelFor(layout: DatasetLayout, columns: Iterable<string>): RollupLevel | undefined {
  const needed = [...new Set(columns)];
  let best: RollupLevel | undefined;
  for (const level of rollupLevelsOf(layout)) {
    if (!needed.every((c) => level.columns.includes(c))) continue;
    if (best === undefined || level.columns.length < best.columns.length) best = level;
  }
  return best;
}

/**
 * The kept resolution that serves buckets of `res`: `res` itself, else the coarsest finer one (its
 * cells add up to the wider bucket). Undefined when the level keeps nothing that fine.
 */
export function servingResolution(level: RollupLevel, res: RollupResolution): RollupResolution | undefined {
  const at = ROLLUP_RESOLUTIONS.indexOf(res);
  for (let i = at; i >= 0; i--)
    if (level.resolutions.includes(ROLLUP_RESOLUTIONS[i]!)) return ROLLUP_RESOLUTIONS[i];
  return undefined;
}

/** A level of nested maps: one per key column, the last one holding series numbers. */
type Level = Map<string, Level | number>;

/**
 * Numbers the series of a rollup level by their key values, in order of first sight, without building
 * a string per row: a row's values are looked up column by column in nested maps. Joining them into
 * one id string per row instead was most of what folding a request log's rows allocated, on the store's
 * thread and on the event loop alike. Key strings of one batch are mostly shared (`KeyInterner`), so
 * each lookup hashes nothing new.
 */
export class SeriesIndex {
  private readonly root: Level = new Map();
  private count = 0;
  /** 0, 1, …: the key column indexes of a tuple wrapped as one-row columns (`ofValues`). */
  private readonly columns: readonly number[];

  constructor(private readonly depth: number) {
    this.columns = Array.from({ length: depth }, (_, i) => i);
  }

  /** Number of series numbered so far. */
  get size(): number {
    return this.count;
  }

  /**
   * The number of the series of row `r`, whose key values are `keys[c][r]` for each column `c` of
   * `keyIndexes` (`depth` of them); -1 when it has none yet and `add` is false, else a new one.
   */
  ofRow(
    keys: readonly (readonly string[])[],
    keyIndexes: readonly number[],
    r: number,
    add: boolean,
  ): number {
    if (this.depth === 0) return this.only(add);
    let level = this.root;
    const last = this.depth - 1;
    for (let k = 0; k < last; k++) {
      const v = keys[keyIndexes[k]!]![r]!;
      let next = level.get(v) as Level | undefined;
      if (next === undefined) {
        if (!add) return -1;
        next = new Map();
        level.set(v, next);
      }
      level = next;
    }
    return this.leaf(level, keys[keyIndexes[last]!]![r]!, add);
  }

  /** `ofRow` for one tuple of key values, in the level's column order (off the hot path: it wraps them). */
  ofValues(values: readonly string[], add: boolean): number {
    return this.ofRow(
      values.map((v) => [v]),
      this.columns,
      0,
      add,
    );
  }

  /** A level without key columns has one series. */
  private only(add: boolean): number {
    if (this.count === 0 && add) this.count = 1;
    return this.count - 1;
  }

  private leaf(level: Level, value: string, add: boolean): number {
    const s = level.get(value) as number | undefined;
    if (s !== undefined) return s;
    if (!add) return -1;
    level.set(value, this.count);
    return this.count++;
  }
}

/** Whether rows `a` and `b` have the same values in the key columns at `keyIndexes`. */
export function sameSeries(
  keys: readonly (readonly string[])[],
  keyIndexes: readonly number[],
  a: number,
  b: number,
): boolean {
  for (let k = 0; k < keyIndexes.length; k++) {
    const column = keys[keyIndexes[k]!]!;
    if (column[a] !== column[b]) return false;
  }
  return true;
}

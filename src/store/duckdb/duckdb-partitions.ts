import { tableNameOf } from './duckdb-sql.js';

/**
 * Time partitions of the raw rows: one table per UTC day, `p_<dataset>_<yyyymmdd>`, beside the
 * dataset's base table `ds_<dataset>`, which keeps rows without a time (and rows whose year is
 * outside 0000–9999). Retention drops whole day tables; reads name only the tables their time range
 * touches, plus the base table.
 */
export const DAY_US = 86_400_000_000;
const DAY_MS = 86_400_000;
/** Days from the epoch of 0000-01-01 and 10000-01-01. */
const FIRST_DAY = -719_528;
const END_DAY = 2_932_897;

const PARTITION_NAME = /^p_([a-z][a-z0-9_]*)_(\d{8})$/;

export function partitionTableOf(dataset: string, day: number): string {
  const iso = new Date(day * DAY_MS).toISOString().slice(0, 10);
  return `p_${dataset}_${iso.replaceAll('-', '')}`;
}

export function parsePartitionTable(table: string): { dataset: string; day: number } | undefined {
  const m = PARTITION_NAME.exec(table);
  if (m === null) return undefined;
  const d = m[2]!;
  const ms = Date.UTC(Number(d.slice(0, 4)), Number(d.slice(4, 6)) - 1, Number(d.slice(6, 8)));
  // Date.UTC maps years 0–99 to 1900–1999.
  const date = new Date(ms);
  date.setUTCFullYear(Number(d.slice(0, 4)));
  return { dataset: m[1]!, day: Math.round(date.getTime() / DAY_MS) };
}

/** The day a row belongs to, or undefined for the base table. */
export function dayOf(timeUs: number): number | undefined {
  if (timeUs !== timeUs) return undefined;
  const day = Math.floor(timeUs / DAY_US);
  return day >= FIRST_DAY && day < END_DAY ? day : undefined;
}

/**
 * Splits the kept rows of a batch by target table: undefined is the base table. Rows keep their
 * batch order within a table. Most batches fall in one day, which costs one pass and no copy.
 */
export function rowsByDay(
  timeUs: Float64Array | null,
  rows: Uint32Array,
): { day: number | undefined; rows: Uint32Array }[] {
  if (timeUs === null || rows.length === 0) return [{ day: undefined, rows }];
  const first = dayOf(timeUs[rows[0]!]!);
  let same = true;
  for (let i = 1; i < rows.length && same; i++) same = dayOf(timeUs[rows[i]!]!) === first;
  if (same) return [{ day: first, rows }];
  const groups = new Map<number | undefined, number[]>();
  for (const r of rows) {
    const day = dayOf(timeUs[r]!);
    let g = groups.get(day);
    if (g === undefined) groups.set(day, (g = []));
    g.push(r);
  }
  return [...groups.entries()].map(([day, g]) => ({ day, rows: Uint32Array.from(g) }));
}

/** The day partitions present, per dataset. Only the store's writer changes it. */
export class PartitionMap {
  private readonly days = new Map<string, Set<number>>();

  add(dataset: string, day: number): void {
    let set = this.days.get(dataset);
    if (set === undefined) this.days.set(dataset, (set = new Set()));
    set.add(day);
  }

  has(dataset: string, day: number): boolean {
    return this.days.get(dataset)?.has(day) ?? false;
  }

  remove(dataset: string, day: number): void {
    this.days.get(dataset)?.delete(day);
  }

  clear(): void {
    this.days.clear();
  }

  forget(dataset: string): void {
    this.days.delete(dataset);
  }

  daysOf(dataset: string): number[] {
    return [...(this.days.get(dataset) ?? [])].sort((a, b) => a - b);
  }

  /** The base table and the partitions that may hold rows in [fromUs, toUs). */
  tablesFor(dataset: string, fromUs?: number, toUs?: number): string[] {
    const lo = fromUs === undefined ? -Infinity : Math.floor(fromUs / DAY_US);
    const hi = toUs === undefined ? Infinity : Math.ceil(toUs / DAY_US);
    const tables = [tableNameOf(dataset)];
    for (const day of this.daysOf(dataset))
      if (day >= lo && day < hi) tables.push(partitionTableOf(dataset, day));
    return tables;
  }
}

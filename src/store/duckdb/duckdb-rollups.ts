import { DuckDBBlobValue, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { ROLLUP_SLICE_MS, blockOfCells, cellOf, type CellBlock } from '../../apply/rollups/cell-block.js';
import type { RollupDeltaSet } from '../../apply/rollups/rollup-accumulator.js';
import {
  ROLLUP_SKETCH,
  emptyCell,
  mergeCell,
  seriesIdOf,
  type RollupCell,
  type RollupResolution,
} from '../../apply/rollups/rollup-cell.js';
import { rollupLevelsOf, type RollupLevel } from '../../apply/rollups/rollup-levels.js';
import type { DatasetLayout } from '../../core/dataset.js';
import { TimeSlicer } from '../../core/time-slicer.js';
import { QuantileSketch } from '../../query/quantile-sketch.js';
import { numberOrNull, textOf } from './duckdb-result-values.js';
import type { BlockCells, RollupRowsSource } from './duckdb-rollup-writer.js';
import { quoteIdent } from './duckdb-sql.js';

/**
 * Rollup tables of the DuckDB SeriesStore: `r_<dataset>_<1m|1h|1d><level suffix>` (see RollupLevel),
 * one row per (series, bucket): the level's key columns, `bucket` (start, BIGINT microseconds),
 * `rows`, and per field `<f>.count`, `<f>.sum`, `<f>.min`, `<f>.max`, `<f>.sumsq` and `<f>.sketch`
 * (QuantileSketch.toBytes). Field columns carry a dot, which no declared column name can, so they
 * never collide with keys. Reads are in duckdb-rollup-read.ts.
 */

export const CREATE_WATERMARK_SQL =
  'CREATE TABLE IF NOT EXISTS _rollup_watermark (dataset VARCHAR PRIMARY KEY, seq BIGINT NOT NULL)';

const STAGE_TABLE = '_rollup_stage';
export const PARTS = ['count', 'sum', 'min', 'max', 'sumsq', 'sketch'] as const;
const PART_TYPES: Record<(typeof PARTS)[number], string> = {
  count: 'BIGINT',
  sum: 'DOUBLE',
  min: 'DOUBLE',
  max: 'DOUBLE',
  sumsq: 'DOUBLE',
  sketch: 'BLOB',
};

export function rollupTableOf(dataset: string, res: RollupResolution, level: RollupLevel): string {
  return `r_${dataset}_${res}${level.suffix}`;
}

/** True for the rollup tables (any level and resolution) of `dataset`. */
export function isRollupTableOf(table: string, dataset: string): boolean {
  const rest = table.startsWith(`r_${dataset}_`) ? table.slice(dataset.length + 3) : '';
  return /^(1m|1h|1d)(@[A-Za-z_][A-Za-z0-9_]*)*$/.test(rest);
}

/** Every rollup table of the dataset: each level at each resolution it keeps. */
export function rollupTablesOf(
  layout: DatasetLayout,
): { table: string; res: RollupResolution; level: RollupLevel }[] {
  return rollupLevelsOf(layout).flatMap((level) =>
    level.resolutions.map((res) => ({ table: rollupTableOf(layout.spec.name, res, level), res, level })),
  );
}

export function col(field: string, part: (typeof PARTS)[number]): string {
  return quoteIdent(`${field}.${part}`);
}

/** Column definitions, in table order; also the signature checked against a stored table. */
export function rollupColumnDefs(layout: DatasetLayout): string[] {
  return [
    ...layout.keys.map((k) => `${quoteIdent(k.name)} VARCHAR`),
    'bucket BIGINT',
    'rows BIGINT',
    ...layout.fields.flatMap((f) => PARTS.map((p) => `${col(f.name, p)} ${PART_TYPES[p]}`)),
  ];
}

export function createRollupTableSql(table: string, layout: DatasetLayout): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(table)} (${rollupColumnDefs(layout).join(', ')})`;
}

function keyJoin(layout: DatasetLayout, a: string, b: string): string {
  return [...layout.keys.map((k) => quoteIdent(k.name)), 'bucket']
    .map((c) => `${a}.${c} = ${b}.${c}`)
    .join(' AND ');
}

/** A stored sketch; NULL where the cell holds at most two values (its min and max). */
export function storedSketch(v: DuckDBValue): QuantileSketch | null {
  return v instanceof DuckDBBlobValue ? QuantileSketch.fromBytes(v.bytes, ROLLUP_SKETCH) : null;
}

/** A stored rollup row (columns in table order) as a cell. */
function cellOfRow(layout: DatasetLayout, row: readonly DuckDBValue[]): RollupCell {
  const nk = layout.keys.length;
  const cell = emptyCell(
    row.slice(0, nk).map((v) => textOf(v ?? '')),
    numberOrNull(row[nk] ?? null) ?? 0,
    layout.fields.length,
  );
  cell.rows = numberOrNull(row[nk + 1] ?? null) ?? 0;
  layout.fields.forEach((_, f) => {
    const at = nk + 2 + f * PARTS.length;
    const r = cell.fields[f]!;
    r.count = numberOrNull(row[at] ?? null) ?? 0;
    r.sum = numberOrNull(row[at + 1] ?? null) ?? 0;
    r.min = numberOrNull(row[at + 2] ?? null) ?? Infinity;
    r.max = numberOrNull(row[at + 3] ?? null) ?? -Infinity;
    r.sumSq = numberOrNull(row[at + 4] ?? null) ?? 0;
    r.sketch = storedSketch(row[at + 5] ?? null);
  });
  return cell;
}

/**
 * Merges a block of delta cells into one rollup table, inside `conn`'s open transaction, so each
 * (series, bucket) stays one row. Cells past `storedUpTo` (the latest bucket the table may hold)
 * cannot exist yet and are appended straight from the block; the stored rows of the others are read,
 * merged with their deltas, deleted and written back. Reads are limited to the deltas' bucket range,
 * which lets DuckDB skip the rest of the table by its zone maps. Returns the latest bucket written.
 */
export async function mergeRollupTable(
  conn: DuckDBConnection,
  layout: DatasetLayout,
  name: string,
  block: CellBlock,
  storedUpTo: number,
  writer: RollupRowsSource,
  slicer: TimeSlicer,
): Promise<number> {
  let latest = -Infinity;
  if (block.size === 0) return latest;
  const table = quoteIdent(name);
  const older = new Map<string, number>();
  let lo = Infinity;
  let hi = -Infinity;
  for (let c = 0; c < block.size; c++) {
    const bucket = block.bucketUs[c]!;
    if (bucket > latest) latest = bucket;
    if (bucket > storedUpTo) continue;
    older.set(`${seriesIdOf(block.seriesKeys[block.seriesOf[c]!]!)}\u001e${bucket}`, c);
    if (bucket < lo) lo = bucket;
    if (bucket > hi) hi = bucket;
  }
  const merged: RollupCell[] = [];
  const replaced = new Set<number>();
  if (older.size > 0) {
    const keyDefs = [...layout.keys.map((k) => `${quoteIdent(k.name)} VARCHAR`), 'bucket BIGINT'];
    await conn.run(`CREATE OR REPLACE TABLE ${STAGE_TABLE} (${keyDefs.join(', ')})`);
    const stage = await conn.createAppender(STAGE_TABLE);
    for (const c of older.values()) {
      for (const k of block.seriesKeys[block.seriesOf[c]!]!) stage.appendVarchar(k);
      stage.appendBigInt(BigInt(block.bucketUs[c]!));
      stage.endRow();
    }
    stage.closeSync();
    const range = [BigInt(lo), BigInt(hi)];
    const inRange = 'r.bucket >= $1::BIGINT AND r.bucket <= $2::BIGINT';
    const stored = await conn.run(
      `SELECT r.* FROM ${table} r SEMI JOIN ${STAGE_TABLE} s ON ${keyJoin(layout, 'r', 's')} WHERE ${inRange}`,
      range,
    );
    // Chunk by chunk (2,048 rows), not all rows at once: turning tens of thousands of rows into values
    // is itself a long task. Merging decodes two sketches a cell: in slices, so queries on this thread
    // get in between.
    for (
      let chunk = await stored.fetchChunk();
      chunk !== null && chunk.rowCount > 0;
      chunk = await stored.fetchChunk()
    ) {
      for (const row of chunk.getRows()) {
        if (slicer.due) await slicer.pause();
        const old = cellOfRow(layout, row);
        const c = older.get(`${seriesIdOf(old.keys)}\u001e${old.bucketUs}`);
        if (c === undefined || replaced.has(c)) continue;
        mergeCell(old, cellOf(block, c));
        merged.push(old);
        replaced.add(c);
      }
    }
    await conn.run(
      `DELETE FROM ${table} r USING ${STAGE_TABLE} s WHERE ${keyJoin(layout, 'r', 's')} AND ${inRange}`,
      range,
    );
    await conn.run(`DROP TABLE ${STAGE_TABLE}`);
  }
  const fresh = new Uint32Array(block.size - replaced.size);
  let n = 0;
  for (let c = 0; c < block.size; c++) if (!replaced.has(c)) fresh[n++] = c;
  const parts: BlockCells[] = [{ block, cells: fresh }];
  if (merged.length > 0) {
    const again = await blockOfCells(merged, layout.fields.length, slicer);
    parts.push({ block: again, cells: Uint32Array.from({ length: again.size }, (_, i) => i) });
  }
  await writer.insert(conn, layout, name, parts);
  return latest;
}

/** The latest bucket stored in a rollup table (-Infinity when empty). */
export async function latestStoredBucket(conn: DuckDBConnection, table: string): Promise<number> {
  const reader = await conn.runAndReadAll(`SELECT max(bucket) FROM ${quoteIdent(table)}`);
  return numberOrNull(reader.getRows()[0]?.[0] ?? null) ?? -Infinity;
}

/**
 * Merges every level's and resolution's deltas; `storedUpTo` caches each table's latest stored bucket
 * (filled on first use) and is advanced only by the caller, after the transaction commits.
 */
export async function mergeAllRollups(
  conn: DuckDBConnection,
  layout: DatasetLayout,
  deltas: RollupDeltaSet,
  storedUpTo: Map<string, number>,
  writer: RollupRowsSource,
): Promise<Map<string, number>> {
  const written = new Map<string, number>();
  const slicer = new TimeSlicer(ROLLUP_SLICE_MS);
  for (const { level, blocks: byRes } of deltas) {
    for (const res of level.resolutions) {
      const table = rollupTableOf(layout.spec.name, res, level);
      const cells = byRes[res];
      if (cells === undefined) continue;
      let upTo = storedUpTo.get(table);
      if (upTo === undefined) storedUpTo.set(table, (upTo = await latestStoredBucket(conn, table)));
      written.set(table, await mergeRollupTable(conn, level.layout, table, cells, upTo, writer, slicer));
    }
  }
  return written;
}

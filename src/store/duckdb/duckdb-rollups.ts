import {
  DuckDBBlobValue,
  DuckDBListValue,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBValue,
} from '@duckdb/node-api';
import type { RollupDeltas } from '../../apply/rollups/rollup-accumulator.js';
import {
  ROLLUP_RESOLUTIONS,
  ROLLUP_SKETCH,
  emptyCell,
  mergeCell,
  seriesIdOf,
  type RollupCell,
  type RollupResolution,
} from '../../apply/rollups/rollup-cell.js';
import type { DatasetLayout } from '../../core/dataset.js';
import { SluiceError } from '../../core/errors.js';
import { QuantileSketch } from '../../query/quantile-sketch.js';
import type { FieldAggregate, RollupGroup, RollupQuery } from '../series-store.js';
import { numberOrNull, textOf } from './duckdb-result-values.js';
import { keyFilterSql, quoteIdent, type BuiltQuery, type SqlParam } from './duckdb-sql.js';

/**
 * Rollup tables of the DuckDB SeriesStore: `r_<dataset>_<1m|1h|1d>`, one row per (series, bucket):
 * the key columns, `bucket` (start, BIGINT microseconds), `rows`, and per field `<f>.count`,
 * `<f>.sum`, `<f>.min`, `<f>.max`, `<f>.sumsq` and `<f>.sketch` (QuantileSketch.toBytes). Field
 * columns carry a dot, which no declared column name can, so they never collide with keys.
 */

export const CREATE_WATERMARK_SQL =
  'CREATE TABLE IF NOT EXISTS _rollup_watermark (dataset VARCHAR PRIMARY KEY, seq BIGINT NOT NULL)';

const STAGE_TABLE = '_rollup_stage';
const PARTS = ['count', 'sum', 'min', 'max', 'sumsq', 'sketch'] as const;
const PART_TYPES: Record<(typeof PARTS)[number], string> = {
  count: 'BIGINT',
  sum: 'DOUBLE',
  min: 'DOUBLE',
  max: 'DOUBLE',
  sumsq: 'DOUBLE',
  sketch: 'BLOB',
};

export function rollupTableOf(dataset: string, res: RollupResolution): string {
  return `r_${dataset}_${res}`;
}

export function rollupTablesOf(dataset: string): string[] {
  return ROLLUP_RESOLUTIONS.map((r) => rollupTableOf(dataset, r));
}

function col(field: string, part: (typeof PARTS)[number]): string {
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

export function createRollupTableSql(layout: DatasetLayout, res: RollupResolution): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(rollupTableOf(layout.spec.name, res))} (${rollupColumnDefs(layout).join(', ')})`;
}

function keyJoin(layout: DatasetLayout, a: string, b: string): string {
  return [...layout.keys.map((k) => quoteIdent(k.name)), 'bucket']
    .map((c) => `${a}.${c} = ${b}.${c}`)
    .join(' AND ');
}

function appendCell(app: DuckDBAppender, cell: RollupCell): void {
  for (const k of cell.keys) app.appendVarchar(k);
  app.appendBigInt(BigInt(cell.bucketUs));
  app.appendBigInt(BigInt(cell.rows));
  for (const f of cell.fields) {
    app.appendBigInt(BigInt(f.count));
    app.appendDouble(f.sum);
    if (f.count === 0) {
      app.appendNull();
      app.appendNull();
    } else {
      app.appendDouble(f.min);
      app.appendDouble(f.max);
    }
    app.appendDouble(f.sumSq);
    app.appendBlob(f.sketch.toBytes());
  }
  app.endRow();
}

function sketchOf(v: DuckDBValue): QuantileSketch {
  return v instanceof DuckDBBlobValue
    ? QuantileSketch.fromBytes(v.bytes, ROLLUP_SKETCH)
    : new QuantileSketch(ROLLUP_SKETCH);
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
    r.sketch = sketchOf(row[at + 5] ?? null);
  });
  return cell;
}

/**
 * Merges delta cells into one rollup table, inside `conn`'s open transaction: the stored rows of the
 * touched cells are read, merged with the deltas, deleted and written back, so each (series, bucket)
 * stays one row.
 */
export async function mergeRollupTable(
  conn: DuckDBConnection,
  layout: DatasetLayout,
  res: RollupResolution,
  deltas: readonly RollupCell[],
): Promise<void> {
  if (deltas.length === 0) return;
  const table = quoteIdent(rollupTableOf(layout.spec.name, res));
  const keyDefs = [...layout.keys.map((k) => `${quoteIdent(k.name)} VARCHAR`), 'bucket BIGINT'];
  await conn.run(`CREATE OR REPLACE TABLE ${STAGE_TABLE} (${keyDefs.join(', ')})`);
  const stage = await conn.createAppender(STAGE_TABLE);
  for (const d of deltas) {
    for (const k of d.keys) stage.appendVarchar(k);
    stage.appendBigInt(BigInt(d.bucketUs));
    stage.endRow();
  }
  stage.closeSync();
  const cells = new Map<string, RollupCell>();
  for (const d of deltas) cells.set(`${seriesIdOf(d.keys)}\u001e${d.bucketUs}`, d);
  const stored = await conn.runAndReadAll(
    `SELECT r.* FROM ${table} r SEMI JOIN ${STAGE_TABLE} s ON ${keyJoin(layout, 'r', 's')}`,
  );
  for (const row of stored.getRows()) {
    const old = cellOfRow(layout, row);
    const id = `${seriesIdOf(old.keys)}\u001e${old.bucketUs}`;
    const delta = cells.get(id);
    if (delta === undefined) continue;
    mergeCell(old, delta);
    cells.set(id, old);
  }
  await conn.run(`DELETE FROM ${table} r USING ${STAGE_TABLE} s WHERE ${keyJoin(layout, 'r', 's')}`);
  const out = await conn.createAppender(rollupTableOf(layout.spec.name, res));
  for (const cell of cells.values()) appendCell(out, cell);
  out.closeSync();
  await conn.run(`DROP TABLE ${STAGE_TABLE}`);
}

export async function mergeAllRollups(
  conn: DuckDBConnection,
  layout: DatasetLayout,
  deltas: RollupDeltas,
): Promise<void> {
  for (const res of ROLLUP_RESOLUTIONS) await mergeRollupTable(conn, layout, res, deltas[res]);
}

/**
 * Result columns: the group columns, `b` (step bucket or 0), `rows`, then per field count, sum, min,
 * max, sumsq and, with sketches, the list of sketch blobs.
 */
export function rollupReadSql(
  layout: DatasetLayout,
  q: RollupQuery,
  existing: ReadonlySet<string>,
): BuiltQuery | undefined {
  const params: SqlParam[] = [];
  const known = new Set(layout.keys.map((k) => k.name));
  for (const g of q.groupBy)
    if (!known.has(g))
      throw new SluiceError('bad_query', `dataset ${layout.spec.name} has no key column ${g}`);
  const parts: string[] = [];
  for (const s of q.segments) {
    const table = rollupTableOf(layout.spec.name, s.resolution);
    if (!existing.has(table) || !(s.toUs > s.fromUs)) continue;
    params.push(BigInt(Math.trunc(s.fromUs)), BigInt(Math.trunc(s.toUs)));
    parts.push(
      `SELECT * FROM ${quoteIdent(table)} WHERE bucket >= $${params.length - 1}::BIGINT AND bucket < $${params.length}::BIGINT`,
    );
  }
  if (parts.length === 0) return undefined;
  const where = keyFilterSql(layout, q.keys, params);
  let bucket = '0::BIGINT';
  if (q.stepUs !== undefined) {
    params.push(BigInt(Math.trunc(q.stepUs)));
    bucket = `(floor(bucket / $${params.length}::BIGINT)::BIGINT * $${params.length}::BIGINT)`;
  }
  const groups = q.groupBy.map((g) => quoteIdent(g));
  const aggs = q.fields.flatMap((f) => [
    `sum(${col(f, 'count')})::DOUBLE`,
    `sum(${col(f, 'sum')})`,
    `min(${col(f, 'min')})`,
    `max(${col(f, 'max')})`,
    `sum(${col(f, 'sumsq')})`,
    ...(q.sketches ? [`list(${col(f, 'sketch')})`] : []),
  ]);
  const select = [...groups, `${bucket} AS b`, 'sum(rows)::DOUBLE', ...aggs].join(', ');
  const sql =
    `SELECT ${select} FROM (${parts.join(' UNION ALL ')}) src` +
    `${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} GROUP BY ALL HAVING count(*) > 0`;
  return { sql, params };
}

export function rollupGroupsOf(q: RollupQuery, rows: readonly (readonly DuckDBValue[])[]): RollupGroup[] {
  const ng = q.groupBy.length;
  const per = q.sketches ? 6 : 5;
  return rows.map((row) => {
    const fields: FieldAggregate[] = q.fields.map((_, i) => {
      const at = ng + 2 + i * per;
      const agg: FieldAggregate = {
        count: numberOrNull(row[at] ?? null) ?? 0,
        sum: numberOrNull(row[at + 1] ?? null) ?? 0,
        min: numberOrNull(row[at + 2] ?? null) ?? NaN,
        max: numberOrNull(row[at + 3] ?? null) ?? NaN,
        sumSq: numberOrNull(row[at + 4] ?? null) ?? 0,
      };
      if (q.sketches) {
        const sketch = new QuantileSketch(ROLLUP_SKETCH);
        const list = row[at + 5];
        if (list instanceof DuckDBListValue) for (const b of list.items) sketch.merge(sketchOf(b));
        agg.sketch = sketch;
      }
      return agg;
    });
    return {
      group: row.slice(0, ng).map((v) => textOf(v ?? '')),
      bucketUs: numberOrNull(row[ng] ?? null) ?? 0,
      rows: numberOrNull(row[ng + 1] ?? null) ?? 0,
      fields,
    };
  });
}

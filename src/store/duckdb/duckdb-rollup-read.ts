import { DuckDBListValue, type DuckDBValue } from '@duckdb/node-api';
import { ROLLUP_SKETCH } from '../../apply/rollups/rollup-cell.js';
import { levelFor, servingResolution } from '../../apply/rollups/rollup-levels.js';
import type { DatasetLayout } from '../../core/dataset.js';
import { SluiceError } from '../../core/errors.js';
import { QuantileSketch } from '../../query/quantile-sketch.js';
import type { FieldAggregate, RollupGroup, RollupQuery, RollupSegment } from '../series-store.js';
import { numberOrNull, textOf } from './duckdb-result-values.js';
import { PARTS, col, rollupTableOf, storedSketch } from './duckdb-rollups.js';
import {
  SEQ_COLUMN,
  TIME_COLUMN,
  keyFilterSql,
  quoteIdent,
  type BuiltQuery,
  type SqlParam,
} from './duckdb-sql.js';

/** What a rollup read needs to know of the store's tables. */
export interface RollupReadContext {
  /** Tables present in the database. */
  readonly existing: ReadonlySet<string>;
  /** The raw tables that may hold rows in [fromUs, toUs), as one SQL source; undefined when none exist. */
  rawSource(fromUs: number, toUs: number): string | undefined;
}

/** `time` in any of the stretches; their bounds are appended to `params`. */
function inStretches(stretches: readonly RollupSegment[], params: SqlParam[]): string {
  const t = quoteIdent(TIME_COLUMN);
  const ors = stretches.map((s) => {
    params.push(BigInt(Math.trunc(s.fromUs)), BigInt(Math.trunc(s.toUs)));
    return `(${t} >= make_timestamp($${params.length - 1}::BIGINT) AND ${t} < make_timestamp($${params.length}::BIGINT))`;
  });
  return `(${ors.join(' OR ')})`;
}

/**
 * Raw rows shaped like rollup cells of one row each: `bucket` is the row's own time, `rows` is 1, and
 * a field's count, sum, min, max and sum of squares are the value itself. A cell without a sketch
 * holding one value is exactly what the reader already merges as a value, so raw rows and stored
 * cells add up in one aggregation.
 */
function rawCells(
  columns: readonly string[],
  fields: readonly string[],
  source: string,
  where: string,
): string {
  const values = fields.flatMap((f) => {
    const v = quoteIdent(f);
    return [
      `(${v} IS NOT NULL)::BIGINT AS ${col(f, 'count')}`,
      `${v} AS ${col(f, 'sum')}`,
      `${v} AS ${col(f, 'min')}`,
      `${v} AS ${col(f, 'max')}`,
      `${v} * ${v} AS ${col(f, 'sumsq')}`,
      `NULL::BLOB AS ${col(f, 'sketch')}`,
    ];
  });
  const select = [
    ...columns.map(quoteIdent),
    `epoch_us(${quoteIdent(TIME_COLUMN)}) AS bucket`,
    '1::BIGINT AS rows',
    ...values,
  ];
  return `SELECT ${select.join(', ')} FROM ${source} WHERE ${where}`;
}

/**
 * A read of rollups, as one SQL statement. The level is the one that holds every grouped and filtered
 * column with the fewest cells (`levelFor`). Each stretch comes from that level's cells of its
 * resolution, or of a finer kept one; a stretch the level cannot serve (it keeps nothing that fine,
 * or no level holds the columns) comes from raw rows. Rows applied after the last rollup flush (apply
 * sequence past the dataset's watermark, read in the same snapshot) are added from raw rows too, so
 * answers include every applied row, not only the flushed ones.
 *
 * Result columns: the group columns, `b` (step bucket or 0), `rows`, then per field count, sum, min,
 * max, sumsq and, with sketches, the list of sketch blobs and the lists of single values.
 */
export function rollupReadSql(
  layout: DatasetLayout,
  q: RollupQuery,
  ctx: RollupReadContext,
): BuiltQuery | undefined {
  const known = new Set(layout.keys.map((k) => k.name));
  const filtered = Object.keys(q.keys);
  for (const c of [...q.groupBy, ...filtered])
    if (!known.has(c))
      throw new SluiceError('bad_query', `dataset ${layout.spec.name} has no key column ${c}`);
  for (const f of q.fields)
    if (!layout.fields.some((d) => d.name === f))
      throw new SluiceError('bad_query', `dataset ${layout.spec.name} has no field ${f}`);
  const columns = [...new Set([...q.groupBy, ...filtered])];
  const level = levelFor(layout, columns);
  const params: SqlParam[] = [];
  const parts: string[] = [];
  const rolled: RollupSegment[] = [];
  const raw: RollupSegment[] = [];
  for (const s of q.segments) {
    if (!(s.toUs > s.fromUs)) continue;
    const res = level === undefined ? undefined : servingResolution(level, s.resolution);
    if (level === undefined || res === undefined) {
      raw.push(s);
      continue;
    }
    rolled.push(s);
    // A level's tables are made with the dataset's; none yet means no row yet, or none flushed.
    const table = rollupTableOf(layout.spec.name, res, level);
    if (!ctx.existing.has(table)) continue;
    params.push(BigInt(Math.trunc(s.fromUs)), BigInt(Math.trunc(s.toUs)));
    const select = [
      ...columns.map(quoteIdent),
      'bucket',
      'rows',
      ...q.fields.flatMap((f) => PARTS.map((p) => col(f, p))),
    ];
    parts.push(
      `SELECT ${select.join(', ')} FROM ${quoteIdent(table)} ` +
        `WHERE bucket >= $${params.length - 1}::BIGINT AND bucket < $${params.length}::BIGINT`,
    );
  }
  const span = (stretches: readonly RollupSegment[]) =>
    ctx.rawSource(Math.min(...stretches.map((s) => s.fromUs)), Math.max(...stretches.map((s) => s.toUs)));
  if (raw.length > 0) {
    const source = span(raw);
    if (source !== undefined) parts.push(rawCells(columns, q.fields, source, inStretches(raw, params)));
  }
  if (rolled.length > 0) {
    const source = span(rolled);
    if (source !== undefined) {
      const where = inStretches(rolled, params);
      params.push(layout.spec.name);
      const unflushed =
        `${quoteIdent(SEQ_COLUMN)} > (SELECT coalesce(max(seq), 0) FROM _rollup_watermark ` +
        `WHERE dataset = $${params.length})`;
      parts.push(rawCells(columns, q.fields, source, `${where} AND ${unflushed}`));
    }
  }
  if (parts.length === 0) return undefined;
  const where = keyFilterSql(layout, q.keys, params);
  let bucket = '0::BIGINT';
  if (q.stepUs !== undefined) {
    params.push(BigInt(Math.trunc(q.stepUs)));
    bucket = `(floor(bucket / $${params.length}::BIGINT)::BIGINT * $${params.length}::BIGINT)`;
  }
  const aggs = q.fields.flatMap((f) => [
    `sum(${col(f, 'count')})::DOUBLE`,
    `sum(${col(f, 'sum')})`,
    `min(${col(f, 'min')})`,
    `max(${col(f, 'max')})`,
    `sum(${col(f, 'sumsq')})`,
    // Cells without a sketch hold one or two values: their min, and their max when there are two.
    ...(q.sketches
      ? [
          `list(${col(f, 'sketch')}) FILTER (WHERE ${col(f, 'sketch')} IS NOT NULL)`,
          `list(${col(f, 'min')}) FILTER (WHERE ${col(f, 'sketch')} IS NULL AND ${col(f, 'count')} >= 1)`,
          `list(${col(f, 'max')}) FILTER (WHERE ${col(f, 'sketch')} IS NULL AND ${col(f, 'count')} = 2)`,
        ]
      : []),
  ]);
  const select = [...q.groupBy.map(quoteIdent), `${bucket} AS b`, 'sum(rows)::DOUBLE', ...aggs].join(', ');
  const sql =
    `SELECT ${select} FROM (${parts.join(' UNION ALL ')}) src` +
    `${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} GROUP BY ALL HAVING count(*) > 0`;
  return { sql, params };
}

export function rollupGroupsOf(q: RollupQuery, rows: readonly (readonly DuckDBValue[])[]): RollupGroup[] {
  const ng = q.groupBy.length;
  const per = q.sketches ? 8 : 5;
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
        const items = (v: DuckDBValue | undefined): readonly DuckDBValue[] =>
          v instanceof DuckDBListValue ? v.items : [];
        for (const b of items(row[at + 5])) {
          const stored = storedSketch(b);
          if (stored !== null) sketch.merge(stored);
        }
        for (const x of [...items(row[at + 6]), ...items(row[at + 7])]) sketch.add(numberOrNull(x) ?? NaN);
        agg.sketch = sketch;
      }
      return agg;
    });
    return {
      group: row.slice(0, ng).map((v) => textOf(v ?? '')),
      bucketUs: numberOrNull(row[ng] ?? null) ?? 0,
      rows: numberOrNull(row[ng + 1] ?? null) ?? 0,
      fields: fields,
    };
  });
}

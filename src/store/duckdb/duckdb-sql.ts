import { SluiceError } from '../../core/errors.js';
import type { DatasetLayout } from '../../core/dataset.js';
import type { KeyFilter, SeriesAgg, SeriesQuery } from '../series-store.js';

/**
 * Table layout and query text for the DuckDB SeriesStore. Values never enter SQL text: every value
 * goes through a bound parameter, and identifiers go through `quoteIdent`.
 */

/** A value bound to a `$n` parameter. Integers travel as bigint and are cast to BIGINT in the SQL. */
export type SqlParam = string | number | bigint;

export interface BuiltQuery {
  sql: string;
  params: SqlParam[];
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function tableNameOf(dataset: string): string {
  return `ds_${dataset}`;
}

export const TIME_COLUMN = 'time';
export const HASH_COLUMN = '_hash';
export const LINE_COLUMN = '_line';
/** Apply sequence of the batch a row came in (see `AppendResult.seq`). */
export const SEQ_COLUMN = '_seq';

export type PhysicalType = 'VARCHAR' | 'TIMESTAMP' | 'DOUBLE' | 'BIGINT';

export interface PhysicalColumn {
  name: string;
  type: PhysicalType;
}

/**
 * The stored columns of a dataset, in table order: keys, time, fields, payloads, attributes, then
 * the row hash, source line and apply sequence. The time column always exists (NULL for datasets without one) so
 * that every table has the same shape and `latest` can order by it.
 */
export function physicalColumns(layout: DatasetLayout): PhysicalColumn[] {
  const cols: PhysicalColumn[] = [
    ...layout.keys.map((c) => ({ name: c.name, type: 'VARCHAR' as const })),
    { name: TIME_COLUMN, type: 'TIMESTAMP' },
    ...layout.fields.map((c) => ({ name: c.name, type: 'DOUBLE' as const })),
    ...layout.payloads.map((c) => ({ name: c.name, type: 'VARCHAR' as const })),
    ...layout.attributes.map((c) => ({ name: c.name, type: 'VARCHAR' as const })),
    { name: HASH_COLUMN, type: 'DOUBLE' },
    { name: LINE_COLUMN, type: 'BIGINT' },
    { name: SEQ_COLUMN, type: 'BIGINT' },
  ];
  // DuckDB identifiers are case-insensitive, so `Value` and `value` would be one column.
  const seen = new Set<string>();
  for (const c of cols) {
    const folded = c.name.toLowerCase();
    if (seen.has(folded)) {
      throw new SluiceError(
        'internal',
        `dataset ${layout.spec.name}: column name "${c.name}" collides with another column or with a reserved ` +
          `column (${TIME_COLUMN}, ${HASH_COLUMN}, ${LINE_COLUMN}, ${SEQ_COLUMN}) when compared case-insensitively`,
      );
    }
    seen.add(folded);
  }
  return cols;
}

export function describeColumns(cols: readonly PhysicalColumn[]): string {
  return cols.map((c) => `${c.name} ${c.type}`).join(', ');
}

export function createTableSql(table: string, cols: readonly PhysicalColumn[]): string {
  const defs = cols.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(table)} (${defs})`;
}

export const APPLIED_TABLE = '_applied';

export const CREATE_APPLIED_SQL =
  'CREATE TABLE IF NOT EXISTS _applied (batch_id VARCHAR PRIMARY KEY, dataset VARCHAR NOT NULL, ' +
  'inserted BIGINT NOT NULL, duplicate BIGINT NOT NULL, applied_at TIMESTAMP NOT NULL, seq BIGINT NOT NULL DEFAULT 0)';

/** Files written before batches had an apply sequence get the column (0 for their old batches). */
export const MIGRATE_APPLIED_SQL = 'ALTER TABLE _applied ADD COLUMN IF NOT EXISTS seq BIGINT DEFAULT 0';

/** Key lists longer than this are bound as one joined parameter. */
const MANY_KEYS = 32;

/** Parameters are appended to `params`, so the caller can chain fragments. */
export function keyFilterSql(layout: DatasetLayout, keys: KeyFilter, params: SqlParam[]): string[] {
  const clauses: string[] = [];
  const known = new Set(layout.keys.map((k) => k.name));
  for (const [column, values] of Object.entries(keys)) {
    if (!known.has(column)) {
      throw new SluiceError('bad_query', `dataset ${layout.spec.name} has no key column ${column}`);
    }
    if (values.length === 0) {
      clauses.push('FALSE');
      continue;
    }
    if (values.length > MANY_KEYS) {
      // A long list (a bulk read) travels as one parameter: filtering against an unnested list measured
      // 2-4x cheaper than a thousand bound constants. Key values never hold U+001F (bad_key), so it
      // can join them.
      params.push(values.join('\u001f'));
      clauses.push(`${quoteIdent(column)} IN (SELECT unnest(string_split($${params.length}, chr(31))))`);
      continue;
    }
    const slots = values.map((v) => {
      params.push(v);
      return `$${params.length}`;
    });
    clauses.push(`${quoteIdent(column)} IN (${slots.join(', ')})`);
  }
  return clauses;
}

function timeBoundsSql(q: Pick<SeriesQuery, 'fromUs' | 'toUs'>, params: SqlParam[]): string[] {
  const clauses = [`${quoteIdent(TIME_COLUMN)} IS NOT NULL`];
  if (q.fromUs !== undefined) {
    params.push(BigInt(Math.ceil(q.fromUs)));
    clauses.push(`${quoteIdent(TIME_COLUMN)} >= make_timestamp($${params.length}::BIGINT)`);
  }
  if (q.toUs !== undefined) {
    params.push(BigInt(Math.ceil(q.toUs)));
    clauses.push(`${quoteIdent(TIME_COLUMN)} < make_timestamp($${params.length}::BIGINT)`);
  }
  return clauses;
}

function aggSql(agg: SeriesAgg, column: string): string {
  const c = quoteIdent(column);
  switch (agg) {
    case 'mean':
      return `avg(${c})`;
    case 'min':
      return `min(${c})`;
    case 'max':
      return `max(${c})`;
    case 'sum':
      return `sum(${c})`;
    case 'count':
      return `count(${c})::DOUBLE`;
    case 'last':
      // arg_max skips NULL values, so `last` is the latest non-missing value in the bucket.
      return `arg_max(${c}, ${quoteIdent(TIME_COLUMN)})`;
  }
}

export function requestedFields(layout: DatasetLayout, fields: readonly string[] | undefined): string[] {
  if (fields === undefined) return layout.fields.map((f) => f.name);
  const known = new Set(layout.fields.map((f) => f.name));
  for (const f of fields) {
    if (!known.has(f)) throw new SluiceError('bad_query', `dataset ${layout.spec.name} has no field ${f}`);
  }
  return [...fields];
}

/**
 * Result columns: `t_us` (DOUBLE microseconds), one column per key, then one per requested field.
 * `limit` keeps the earliest points (by time, then keys); the result is ordered by keys, then time.
 */
export function seriesSql(
  layout: DatasetLayout,
  q: SeriesQuery,
  fields: readonly string[],
  source: string,
): BuiltQuery {
  const params: SqlParam[] = [];
  const table = source;
  const keyCols = layout.keys.map((k) => quoteIdent(k.name));
  const where = [...keyFilterSql(layout, q.keys, params), ...timeBoundsSql(q, params)].join(' AND ');
  const keyList = keyCols.length > 0 ? `${keyCols.join(', ')}, ` : '';
  let inner: string;
  if (q.stepMs !== undefined) {
    if (!(q.stepMs > 0) || !Number.isFinite(q.stepMs)) {
      throw new SluiceError('bad_query', `step must be a positive number of milliseconds, got ${q.stepMs}`);
    }
    params.push(BigInt(Math.round(q.stepMs * 1000)));
    // An explicit epoch origin: DuckDB's default origin (2000-01-03) would shift buckets wider than a day.
    const bucket =
      `time_bucket(to_microseconds($${params.length}::BIGINT), ${quoteIdent(TIME_COLUMN)}, ` +
      `TIMESTAMP '1970-01-01 00:00:00')`;
    const values = fields.map((f, i) => `(${aggSql(q.agg, f)})::DOUBLE AS v${i}`);
    inner =
      `SELECT ${keyList}epoch_us(${bucket})::DOUBLE AS t_us${values.map((v) => `, ${v}`).join('')} ` +
      `FROM ${table} WHERE ${where} GROUP BY ALL`;
  } else {
    const values = fields.map((f, i) => `${quoteIdent(f)} AS v${i}`);
    inner =
      `SELECT ${keyList}epoch_us(${quoteIdent(TIME_COLUMN)})::DOUBLE AS t_us` +
      `${values.map((v) => `, ${v}`).join('')} FROM ${table} WHERE ${where}`;
  }
  params.push(BigInt(Math.max(0, Math.floor(q.limit))));
  const byTime = ['t_us', ...keyCols].join(', ');
  const byKeys = [...keyCols, 't_us'].join(', ');
  const limited = `SELECT * FROM (${inner}) ORDER BY ${byTime} LIMIT $${params.length}::BIGINT`;
  const sql = `SELECT * FROM (${limited}) ORDER BY ${byKeys}`;
  return { sql, params };
}

/** The columns of a full stored row: keys, `t_us`, fields, payloads, attributes. */
function recordColumns(layout: DatasetLayout): string[] {
  return [
    ...layout.keys.map((k) => quoteIdent(k.name)),
    `epoch_us(${quoteIdent(TIME_COLUMN)})::DOUBLE AS t_us`,
    ...layout.fields.map((f) => quoteIdent(f.name)),
    ...layout.payloads.map((p) => quoteIdent(p.name)),
    ...layout.attributes.map((a) => quoteIdent(a.name)),
  ];
}

/**
 * Latest first. Rows of one dataset span several tables (day partitions), so rowid cannot break time
 * ties; the apply sequence, then the source line, do, in favour of the row stored last.
 */
const LATEST_ORDER =
  `${quoteIdent(TIME_COLUMN)} DESC NULLS LAST, ${quoteIdent(SEQ_COLUMN)} DESC NULLS LAST, ` +
  `${quoteIdent(LINE_COLUMN)} DESC`;

/** Result columns: keys, `t_us`, fields, payloads, attributes. `source` names the dataset's tables. */
export function latestSql(layout: DatasetLayout, keys: KeyFilter, source: string): BuiltQuery {
  const params: SqlParam[] = [];
  const where = keyFilterSql(layout, keys, params);
  const sql =
    `SELECT ${recordColumns(layout).join(', ')} FROM ${source}` +
    `${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ` +
    `ORDER BY ${LATEST_ORDER} LIMIT 1`;
  return { sql, params };
}

/**
 * Full stored rows matching the key filter in [fromUs, toUs), oldest first (ties in storage order), at
 * most `limit`. Result columns as `latestSql`.
 */
export function rowsSql(
  layout: DatasetLayout,
  q: { keys: KeyFilter; fromUs?: number; toUs?: number; limit: number },
  source: string,
): BuiltQuery {
  const params: SqlParam[] = [];
  const where = [...keyFilterSql(layout, q.keys, params), ...timeBoundsSql(q, params)];
  params.push(BigInt(Math.max(0, Math.floor(q.limit))));
  const sql =
    `SELECT ${recordColumns(layout).join(', ')} FROM ${source}` +
    `${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ` +
    `ORDER BY ${quoteIdent(TIME_COLUMN)}, ${quoteIdent(SEQ_COLUMN)}, ${quoteIdent(LINE_COLUMN)} ` +
    `LIMIT $${params.length}::BIGINT`;
  return { sql, params };
}

/**
 * The latest row of every series (distinct key tuple) matching the filter, in one scan: a window per
 * series instead of one query per key. Result columns as `latestSql`, ordered by keys.
 */
export function latestManySql(layout: DatasetLayout, keys: KeyFilter, source: string): BuiltQuery {
  const params: SqlParam[] = [];
  const where = keyFilterSql(layout, keys, params);
  const series = layout.keys.map((k) => quoteIdent(k.name)).join(', ');
  const sql =
    `SELECT ${recordColumns(layout).join(', ')} FROM ${source}` +
    `${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ` +
    `QUALIFY row_number() OVER (PARTITION BY ${series} ORDER BY ${LATEST_ORDER}) = 1 ORDER BY ${series}`;
  return { sql, params };
}

/** Result columns: keys, `t_us`, fields, `_hash`, `_seq`; with sequence bounds, rows of those batches only. */
export function scanSql(
  layout: DatasetLayout,
  source: string,
  seqs: { afterSeq?: number; throughSeq?: number } = {},
): string {
  const cols = [
    ...layout.keys.map((k) => quoteIdent(k.name)),
    `epoch_us(${quoteIdent(TIME_COLUMN)})::DOUBLE AS t_us`,
    ...layout.fields.map((f) => quoteIdent(f.name)),
    quoteIdent(HASH_COLUMN),
    quoteIdent(SEQ_COLUMN),
  ];
  // The bounds are integers the store produced, never client input.
  const where: string[] = [];
  if (seqs.afterSeq !== undefined) where.push(`${quoteIdent(SEQ_COLUMN)} > ${Math.trunc(seqs.afterSeq)}`);
  if (seqs.throughSeq !== undefined)
    where.push(`${quoteIdent(SEQ_COLUMN)} <= ${Math.trunc(seqs.throughSeq)}`);
  return `SELECT ${cols.join(', ')} FROM ${source}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}`;
}

/** `(SELECT * FROM a UNION ALL SELECT * FROM b …)`: the tables holding a dataset's rows, as one source. */
export function unionSource(tables: readonly string[]): string {
  return `(${tables.map((t) => `SELECT * FROM ${quoteIdent(t)}`).join(' UNION ALL ')})`;
}

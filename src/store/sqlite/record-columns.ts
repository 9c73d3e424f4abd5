import type { DatasetLayout } from '../../core/dataset.js';
import { SluiceError } from '../../core/errors.js';
import type { KeyedRecord } from '../meta-store.js';
import type { SqliteDatabase } from './sqlite-schema.js';

/**
 * The columns of a replace-mode version's `records` table, shared by the thread that builds a version
 * and the one that reads it: `k` (the joined key, primary key), `time_us`, `time_text`, one `f<i>` per
 * field, `p<i>` per payload, `a<i>` per attribute, and `line`.
 */

/** Joins composite key values into the one TEXT primary key (unit separator, absent from real keys). */
export const KEY_SEPARATOR = '\u001f';

/** How many field, payload and attribute columns a version has (read from its table when opened). */
export interface RecordShape {
  readonly fields: number;
  readonly payloads: number;
  readonly attributes: number;
}

/** Raw row as selected: k, time_us, time_text, f*, p*, a*, line. */
export type RawRow = unknown[];

const DATASET_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** Dataset names end up in file and table names, so anything but the schema's pattern is refused. */
export function assertDatasetName(dataset: string): void {
  if (!DATASET_NAME.test(dataset))
    throw new SluiceError('internal', `invalid dataset name ${JSON.stringify(dataset)}`);
}

export function assertVersion(version: number): void {
  if (!Number.isSafeInteger(version) || version < 0)
    throw new SluiceError('internal', `invalid version ${version}`);
}

export function shapeOfLayout(layout: DatasetLayout): RecordShape {
  return {
    fields: layout.fields.length,
    payloads: layout.payloads.length,
    attributes: layout.attributes.length,
  };
}

export function columnNames(shape: RecordShape): string[] {
  const cols = ['k', 'time_us', 'time_text'];
  for (let i = 0; i < shape.fields; i++) cols.push(`f${i}`);
  for (let i = 0; i < shape.payloads; i++) cols.push(`p${i}`);
  for (let i = 0; i < shape.attributes; i++) cols.push(`a${i}`);
  cols.push('line');
  return cols;
}

export function columnList(shape: RecordShape): string {
  return columnNames(shape).join(', ');
}

/**
 * Column definitions of a records table. WITHOUT ROWID keeps each row inside the key's B-tree, so a
 * lookup is one B-tree descent instead of an index descent plus a table descent (measured about
 * 10-20% faster for point lookups here).
 */
export function recordsTableBody(shape: RecordShape): string {
  const types = columnNames(shape).map((c) => {
    if (c === 'k') return 'k TEXT PRIMARY KEY NOT NULL';
    if (c === 'time_us') return 'time_us INTEGER';
    if (c === 'line') return 'line INTEGER NOT NULL';
    return c.startsWith('f') ? `${c} REAL` : `${c} TEXT`;
  });
  return `(${types.join(', ')}) WITHOUT ROWID`;
}

/** The shape of an existing records table, or undefined when the table does not exist. */
export function shapeOfTable(db: SqliteDatabase, table: string, schema = 'main'): RecordShape | undefined {
  const cols = db.pragma(`${schema}.table_info("${table}")`) as { name: string }[];
  if (cols.length === 0) return undefined;
  const count = (prefix: string): number =>
    cols.filter((c) => new RegExp(`^${prefix}\\d+$`).test(c.name)).length;
  return { fields: count('f'), payloads: count('p'), attributes: count('a') };
}

export function joinKey(keys: readonly string[]): string {
  return keys.length === 1 ? keys[0] : keys.join(KEY_SEPARATOR);
}

export function toRecord(row: RawRow, shape: RecordShape): KeyedRecord {
  const k = row[0] as string;
  let i = 3;
  const fields = row.slice(i, (i += shape.fields)) as (number | null)[];
  const payloads = row.slice(i, (i += shape.payloads)) as (string | null)[];
  const attributes = row.slice(i, (i += shape.attributes)) as (string | null)[];
  return {
    keys: k.split(KEY_SEPARATOR),
    timeUs: row[1] as number | null,
    timeText: row[2] as string | null,
    fields,
    payloads,
    attributes,
    line: row[i] as number,
  };
}

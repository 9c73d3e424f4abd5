import type { DatasetInput, DatasetLayout } from '../../core/dataset.js';
import type { FieldValue, LinePoint } from '../formats/line-protocol.js';

/** Timestamp precisions: v2 names (`ns us ms s`) and the v1 ones (`n u ms s m h`). */
const NS_PER: Readonly<Record<string, bigint>> = {
  ns: 1n,
  n: 1n,
  us: 1_000n,
  u: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

export function isPrecision(p: string): boolean {
  return Object.prototype.hasOwnProperty.call(NS_PER, p);
}

/**
 * A measurement's dataset name: lower case, other characters than `a-z 0-9 _` become `_`, and a
 * name that does not start with a letter gets `m_` in front (`CPU.load` → `cpu_load`).
 */
export function datasetNameOf(measurement: string): string {
  let name = measurement.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (!/^[a-z]/.test(name)) name = `m_${name}`;
  return name.slice(0, 63);
}

/**
 * A tag's or field's column name: other characters than `A-Z a-z 0-9 _` become `_`; a name starting
 * with a digit or `_` gets `c` in front (names starting with `_` are reserved), and `time` (the
 * timestamp's column) becomes `time_`.
 */
export function columnNameOf(key: string): string {
  let name = key.replace(/[^A-Za-z0-9_]/g, '_');
  if (!/^[A-Za-z]/.test(name)) name = `c${name}`;
  if (name.toLowerCase() === 'time') name = `${name}_`;
  return name.slice(0, 63);
}

/** The time column of an auto-created dataset. */
export const AUTO_TIME_COLUMN = 'time';
/** Key column of an auto-created dataset whose lines carry no tags: it holds the measurement. */
export const UNTAGGED_KEY_COLUMN = 'measurement';

/**
 * The dataset a measurement creates: its tags (over every line of the request) are required key
 * columns, numeric fields are `number` fields, string and boolean fields are attributes, and the
 * timestamp is the `time` column. Dedup by content, so a client's retry of a batch is stored once.
 */
export function autoDatasetSpec(name: string, points: readonly LinePoint[]): DatasetInput {
  const keys = new Set<string>();
  const fields = new Map<string, FieldValue['type']>();
  for (const p of points) {
    for (const [k] of p.tags) keys.add(columnNameOf(k));
    for (const [k, v] of p.fields) {
      const c = columnNameOf(k);
      if (!keys.has(c) && !fields.has(c)) fields.set(c, v.type);
    }
  }
  for (const k of keys) fields.delete(k);
  if (keys.size === 0) keys.add(UNTAGGED_KEY_COLUMN);
  return {
    name,
    mode: 'append',
    format: 'ndjson',
    columns: [
      ...[...keys].map((k) => ({ name: k, type: 'string' as const, role: 'key' as const, required: true })),
      { name: AUTO_TIME_COLUMN, type: 'time', role: 'time', required: true },
      ...[...fields].map(([f, type]) =>
        type === 'string' || type === 'boolean'
          ? { name: f, type, role: 'attribute' as const }
          : { name: f, type: 'number' as const, role: 'field' as const },
      ),
    ],
    dedup: 'content',
  };
}

export interface TranslatedWrite {
  /** NDJSON, one object per point, for the RecordWriter. */
  ndjson: Buffer;
  /** Body line of each NDJSON line (index 0 is NDJSON line 1). */
  lines: number[];
}

export interface TranslationReject {
  line: number;
  message: string;
}

/**
 * Points of one measurement as NDJSON rows of `layout`: each tag and field goes to the column of its
 * (sanitised) name, the timestamp to the time column as RFC 3339 with microseconds. A tag or field
 * with no column rejects the point (`unknownColumns: 'reject'`) or is left out (`'drop'`).
 */
export function translatePoints(
  layout: DatasetLayout,
  points: readonly LinePoint[],
  opts: { precision: string; nowNs: bigint; unknownColumns: 'reject' | 'drop' },
): { write: TranslatedWrite; rejects: TranslationReject[] } {
  const scale = NS_PER[opts.precision] ?? 1n;
  const known = new Set(layout.spec.columns.map((c) => c.name));
  const untagged = layout.indexOf.has(UNTAGGED_KEY_COLUMN) && layout.keys.length === 1;
  const timeColumn = layout.time?.name;
  const rows: string[] = [];
  const lines: number[] = [];
  const rejects: TranslationReject[] = [];
  for (const p of points) {
    const row: Record<string, unknown> = {};
    let unknown: string | undefined;
    const put = (key: string, value: unknown): void => {
      const c = columnNameOf(key);
      if (c === timeColumn || !known.has(c)) unknown ??= key;
      else row[c] = value;
    };
    for (const [k, v] of p.tags) put(k, v);
    for (const [k, v] of p.fields) put(k, v.value);
    if (unknown !== undefined && opts.unknownColumns === 'reject') {
      rejects.push({
        line: p.line,
        message: `'${unknown}' is not a column of dataset '${layout.spec.name}' (columns: ${[...known].join(', ')})`,
      });
      continue;
    }
    if (untagged && p.tags.length === 0) row[UNTAGGED_KEY_COLUMN] = p.measurement;
    if (timeColumn !== undefined) {
      const ns = p.timestamp === null ? opts.nowNs : BigInt(p.timestamp) * scale;
      row[timeColumn] = isoOfNs(ns);
    }
    rows.push(JSON.stringify(row));
    lines.push(p.line);
  }
  return { write: { ndjson: Buffer.from(rows.join('\n') + '\n'), lines }, rejects };
}

/** RFC 3339 with microseconds (sub-microsecond digits dropped, towards the past). */
export function isoOfNs(ns: bigint): string {
  let us = ns / 1000n;
  if (ns < 0n && ns % 1000n !== 0n) us -= 1n;
  let ms = us / 1000n;
  let subUs = us % 1000n;
  if (subUs < 0n) {
    subUs += 1000n;
    ms -= 1n;
  }
  // Out of Date's range: text the time parser rejects, so the row is a bad_time reject.
  if (ms > 8_640_000_000_000_000n || ms < -8_640_000_000_000_000n) return `out-of-range:${ns}`;
  const iso = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, -1)}${subUs.toString().padStart(3, '0')}Z`;
}

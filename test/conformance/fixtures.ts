import type { ColumnarBatch, Reject } from '../../src/core/batch.js';
import { datasetSchema, layoutOf, type DatasetLayout, type DatasetSpec } from '../../src/core/dataset.js';
import type { ApiKeyRow, NewUpload } from '../../src/store/meta-store.js';

/** A replace-mode catalog with one column of every role, so stored records exercise every column kind. */
export function promotionsSpec(name = 'promotions'): DatasetSpec {
  return datasetSchema.parse({
    name,
    mode: 'replace',
    dedup: 'key',
    columns: [
      { name: 'id', type: 'string', role: 'key', required: true },
      { name: 'price', type: 'number', role: 'field', required: true },
      { name: 'expiration_date', type: 'time', role: 'time' },
      { name: 'stock', type: 'integer', role: 'field' },
      { name: 'meta', type: 'json', role: 'payload' },
      { name: 'currency', type: 'string', role: 'attribute' },
    ],
  });
}

export function promotionsLayout(name = 'promotions'): DatasetLayout {
  return layoutOf(promotionsSpec(name));
}

/** Two key columns, no time, no payload: the other shape a record table can have. */
export function compositeLayout(name = 'prices_by_region'): DatasetLayout {
  return layoutOf(
    datasetSchema.parse({
      name,
      mode: 'replace',
      columns: [
        { name: 'region', type: 'string', role: 'key' },
        { name: 'sku', type: 'string', role: 'key' },
        { name: 'price', type: 'number', role: 'field' },
      ],
    }),
  );
}

/** One row of a promotions batch. Omitted optional values are missing (NaN / null). */
export interface PromoRow {
  id: string;
  price: number;
  stock?: number;
  expiration?: string;
  meta?: string | null;
  currency?: string | null;
  line: number;
}

const BASE_US = Date.UTC(2030, 0, 1) * 1000;

/** Microseconds for a fixture expiration text: a stable function of the text, as a decoder would give. */
export function expirationUs(text: string): number {
  let h = 0;
  for (const c of text) h = (h * 31 + c.charCodeAt(0)) % 1_000_000;
  return BASE_US + h * 1_000_000;
}

/** Builds a promotions ColumnarBatch with every field populated, as the validator would. */
export function promoBatch(opts: {
  source: string;
  seq: number;
  rows: readonly PromoRow[];
  rejects?: readonly Reject[];
  dataset?: string;
}): ColumnarBatch {
  const { rows } = opts;
  const rejects = [...(opts.rejects ?? [])];
  const n = rows.length;
  const timeUs = new Float64Array(n);
  const price = new Float64Array(n);
  const stock = new Float64Array(n);
  const lines = new Float64Array(n);
  const hashes = new Float64Array(n);
  rows.forEach((r, i) => {
    timeUs[i] = r.expiration === undefined ? NaN : expirationUs(r.expiration);
    price[i] = r.price;
    stock[i] = r.stock ?? NaN;
    lines[i] = r.line;
    hashes[i] = i + 1;
  });
  // A loop, not Math.max(...spread): large batches would overflow the call stack.
  let maxLine = 0;
  for (const r of [...rows, ...rejects]) maxLine = Math.max(maxLine, r.line);
  return {
    id: `${opts.source}:${opts.seq}`,
    dataset: opts.dataset ?? 'promotions',
    source: opts.source,
    seq: opts.seq,
    length: n,
    keys: [rows.map((r) => r.id)],
    timeUs,
    fields: [price, stock],
    payloads: [rows.map((r) => (r.meta === undefined ? null : r.meta))],
    attributes: [rows.map((r) => (r.currency === undefined ? null : r.currency))],
    timeText: rows.map((r) => r.expiration ?? ''),
    hashes,
    lines,
    totalRows: n + rejects.length,
    rejects,
    end: { offset: maxLine * 40, line: maxLine },
  };
}

/** `n` plain promotion rows with ids `<prefix><from..from+n-1>`, lines following a header. */
export function promoRows(
  n: number,
  opts: { from?: number; prefix?: string; price?: number } = {},
): PromoRow[] {
  const from = opts.from ?? 0;
  const rows: PromoRow[] = [];
  for (let i = from; i < from + n; i++) {
    rows.push({
      id: `${opts.prefix ?? 'p'}${i}`,
      price: opts.price ?? i + 0.25,
      expiration: `2030-01-${String((i % 28) + 1).padStart(2, '0')}`,
      line: i + 2,
    });
  }
  return rows;
}

/** A batch for the composite-key layout. */
export function compositeBatch(
  source: string,
  seq: number,
  rows: readonly [string, string, number][],
): ColumnarBatch {
  const price = Float64Array.from(rows.map((r) => r[2]));
  return {
    id: `${source}:${seq}`,
    dataset: 'prices_by_region',
    source,
    seq,
    length: rows.length,
    keys: [rows.map((r) => r[0]), rows.map((r) => r[1])],
    timeUs: null,
    fields: [price],
    payloads: [],
    attributes: [],
    timeText: null,
    hashes: null,
    lines: Float64Array.from(rows.map((_, i) => i + 2)),
    totalRows: rows.length,
    rejects: [],
    end: { offset: rows.length * 20, line: rows.length + 1 },
  };
}

export function newUpload(overrides: Partial<NewUpload> = {}): NewUpload {
  return {
    id: overrides.id ?? `up-${Math.random().toString(36).slice(2, 10)}`,
    dataset: 'readings',
    client: 'key-a',
    format: 'csv',
    contentType: 'text/csv',
    filename: 'readings.csv',
    idempotencyKey: null,
    version: null,
    ...overrides,
  };
}

export function apiKey(overrides: Partial<ApiKeyRow> = {}): ApiKeyRow {
  const id = overrides.id ?? `k-${Math.random().toString(36).slice(2, 10)}`;
  return {
    id,
    name: `key ${id}`,
    role: 'writer',
    datasets: null,
    hash: `${id}`.padEnd(64, '0'),
    prefix: 'slk_abcd',
    createdAt: 1_700_000_000_000,
    ...overrides,
  };
}

export function reject(
  line: number,
  reason: Reject['reason'] = 'not_a_number',
  column: string | null = 'price',
): Reject {
  return { line, reason, column, raw: `row-${line},abc,2030-01-01` };
}

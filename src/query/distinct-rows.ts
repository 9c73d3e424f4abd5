import type { DatasetLayout } from '../core/dataset.js';
import { SluiceError } from '../core/errors.js';
import { canonicalizeJsonText } from '../ingest/content-hash.js';
import type { KeyFilter, SeriesStore, StoredRow } from '../store/series-store.js';
import { recordView } from './record-view.js';

/**
 * Stored records in a time range with every duplicate removed at read time: two rows are the same when
 * keys, time, fields, attributes and canonical payload JSON (key order ignored) are equal. Content dedup
 * at apply time already keeps a dataset with `dedup: content` free of them; this readout holds for every
 * dataset, including `dedup: none` ones and rows written before dedup was switched on.
 */
export async function distinctRows(
  series: SeriesStore,
  layout: DatasetLayout,
  q: { keys: KeyFilter; fromUs?: number; toUs?: number; limit: number },
): Promise<{ records: Record<string, unknown>[]; duplicates_removed: number; truncated: boolean }> {
  const rows = await readRows(series, layout, q);
  const seen = new Set<string>();
  const records: Record<string, unknown>[] = [];
  for (const r of rows) {
    const identity = JSON.stringify([
      r.keys,
      r.timeUs,
      r.fields,
      r.attributes,
      r.payloads.map((p) => (p === null ? null : (canonicalizeJsonText(p) ?? p))),
    ]);
    if (seen.has(identity)) continue;
    seen.add(identity);
    records.push(recordView(layout, r));
  }
  return { records, duplicates_removed: rows.length - records.length, truncated: rows.length >= q.limit };
}

async function readRows(
  series: SeriesStore,
  layout: DatasetLayout,
  q: { keys: KeyFilter; fromUs?: number; toUs?: number; limit: number },
): Promise<StoredRow[]> {
  if (series.rows) return series.rows(layout, q);
  if (layout.payloads.length > 0 || layout.attributes.length > 0)
    throw new SluiceError(
      'capability_missing',
      `The '${series.kind}' SeriesStore cannot yet read payload or attribute columns in a range; '${layout.spec.name}' has them`,
    );
  // Without payloads a row is its keys, time and fields, which the series read returns point by point.
  const points = await series.series(layout, { ...q, agg: 'last' });
  return points.map((p) => ({
    keys: p.keys,
    timeUs: p.timeUs,
    fields: p.values,
    payloads: [],
    attributes: [],
  }));
}

import type { DatasetLayout } from '../core/dataset.js';
import type { KeyedRecord } from '../store/meta-store.js';
import type { StoredRow } from '../store/series-store.js';
import { isoOfUs } from './query-params.js';

/**
 * A stored record as JSON, by column name: keys and attributes as strings, fields as numbers, payloads
 * as parsed JSON, and the time as ISO 8601 (or, for replace mode, the text the file had).
 */
export function recordView(layout: DatasetLayout, r: KeyedRecord | StoredRow): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const idx = { key: 0, field: 0, payload: 0, attribute: 0 };
  for (const c of layout.spec.columns) {
    switch (c.role) {
      case 'key':
        out[c.name] = r.keys[idx.key++] ?? null;
        break;
      case 'time': {
        const text = 'timeText' in r ? r.timeText : null;
        out[c.name] = text ?? (r.timeUs === null ? null : isoOfUs(r.timeUs));
        break;
      }
      case 'field': {
        const v = r.fields[idx.field++];
        out[c.name] = v === undefined || v === null || Number.isNaN(v) ? null : v;
        break;
      }
      case 'payload': {
        const p = r.payloads[idx.payload++];
        out[c.name] = p === null || p === undefined ? null : (JSON.parse(p) as unknown);
        break;
      }
      case 'attribute':
        out[c.name] = r.attributes[idx.attribute++] ?? null;
        break;
    }
  }
  return out;
}

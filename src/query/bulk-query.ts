import type { DatasetLayout } from '../core/dataset.js';
import type { DatasetRegistry } from '../core/dataset-registry.js';
import { SluiceError } from '../core/errors.js';
import type { KeyedRecord, MetaStore } from '../store/meta-store.js';
import type { SeriesStore } from '../store/series-store.js';
import type { QueryService, SeriesRequest } from './query-service.js';
import { recordView } from './record-view.js';
import { keepsPerKeyStats, type StatsSnapshot } from './stats-snapshot.js';

/** Keys one bulk read takes at most, listed or looked up. */
export const MAX_BULK_KEYS = 10_000;

export type BulkKind = 'series' | 'stats' | 'latest';
export const BULK_KINDS: readonly BulkKind[] = ['series', 'stats', 'latest'];

/** Where the keys come from: the `column` of the records of a replace-mode `dataset` matching `where`. */
export interface KeySource {
  dataset: string;
  where: Record<string, string>;
  column: string;
}

/** A series request for many keys: the keys as a list or from another dataset, not a filter. */
export interface BulkQuery extends Omit<SeriesRequest, 'keys'> {
  dataset: string;
  kind: BulkKind;
  /** The key column the keys are values of; the dataset's first key column by default. */
  keyColumn?: string;
  keys?: string[];
  keyFrom?: KeySource;
}

/**
 * Reads for many keys in one request and one store query: `series` is one SeriesStore scan with the
 * keys in an `IN` list, `latest` one windowed query over the same filter, `stats` comes from the
 * in-memory snapshot (no store query). A key set named by `key_from` is one MetaStore query on a
 * replace-mode dataset's records. Never one query per key.
 */
export class BulkReader {
  constructor(
    private readonly deps: {
      registry: DatasetRegistry;
      snapshot: StatsSnapshot;
      meta: MetaStore;
      series: SeriesStore;
      queries: QueryService;
    },
  ) {}

  /** The dataset layouts a query reads (for permission checks before it runs). */
  datasetsOf(q: Pick<BulkQuery, 'dataset' | 'keyFrom'>): string[] {
    return q.keyFrom ? [q.dataset, q.keyFrom.dataset] : [q.dataset];
  }

  async run(q: BulkQuery) {
    const { layout } = this.deps.registry.get(q.dataset);
    const keyColumn = q.keyColumn ?? layout.keys[0]?.name;
    if (keyColumn === undefined || !layout.keys.some((k) => k.name === keyColumn))
      throw new SluiceError(
        'bad_query',
        `'${String(q.keyColumn)}' is not a key column of '${q.dataset}' (keys: ${layout.keys.map((k) => k.name).join(', ')})`,
      );
    if ((q.keys === undefined) === (q.keyFrom === undefined))
      throw new SluiceError('bad_query', "Give the keys either as 'keys' or as 'key_from', not both");
    const keys = dedupe(q.keys ?? (await this.keysFrom(q.keyFrom!)));
    if (keys.length > MAX_BULK_KEYS)
      throw new SluiceError('bad_query', `At most ${MAX_BULK_KEYS} keys per request; got ${keys.length}`);
    const head = {
      dataset: q.dataset,
      kind: q.kind,
      key_column: keyColumn,
      keys: keys.length,
      key_from: q.keyFrom ?? null,
    };
    switch (q.kind) {
      case 'series':
        return {
          ...head,
          ...(await this.deps.queries.seriesOf(q.dataset, {
            keys: { [keyColumn]: keys },
            fromUs: q.fromUs,
            toUs: q.toUs,
            stepMs: q.stepMs,
            agg: q.agg,
            fields: q.fields,
            limit: q.limit,
          })),
        };
      case 'stats':
        return { ...head, ...this.stats(layout, keyColumn, keys) };
      case 'latest':
        return { ...head, ...(await this.latest(layout, keyColumn, keys)) };
    }
  }

  /** Per-key statistics from memory; keys without rows are listed under `missing`. */
  stats(layout: DatasetLayout, keyColumn: string, keys: readonly string[]) {
    if (!keepsPerKeyStats(layout))
      throw new SluiceError(
        'unsupported_for_mode',
        `Per-key statistics are for append-mode datasets; '${layout.spec.name}' is ${layout.spec.mode}`,
      );
    const stats: { key: Record<string, string>; fields: unknown }[] = [];
    const missing: string[] = [];
    for (const k of keys) {
      const fields = this.deps.snapshot.summary(layout.spec.name, keyColumn, k);
      if (fields) stats.push({ key: { [keyColumn]: k }, fields });
      else missing.push(k);
    }
    return { stats, missing };
  }

  private async latest(layout: DatasetLayout, keyColumn: string, keys: readonly string[]) {
    if (layout.spec.mode !== 'append')
      throw new SluiceError(
        'unsupported_for_mode',
        `'latest' is for append-mode datasets; read '${layout.spec.name}' records with key_from or records/{key}`,
      );
    const rows = await this.deps.series.latestMany(layout, { [keyColumn]: keys });
    const k = layout.keys.findIndex((c) => c.name === keyColumn);
    const seen = new Set(rows.map((r) => r.keys[k]));
    return {
      records: rows.map((r) => recordView(layout, r)),
      missing: keys.filter((key) => !seen.has(key)),
    };
  }

  /** One MetaStore query: the `column` values of the matching records of a replace-mode dataset. */
  private async keysFrom(src: KeySource): Promise<string[]> {
    const { layout } = this.deps.registry.get(src.dataset);
    if (layout.spec.mode !== 'replace')
      throw new SluiceError(
        'unsupported_for_mode',
        `key_from reads the records of a replace-mode dataset; '${src.dataset}' is ${layout.spec.mode}`,
      );
    const pick = columnPicker(layout, src.column);
    const records = await this.deps.meta.findRecords(layout, src.where, MAX_BULK_KEYS + 1);
    return records.map(pick).filter((v): v is string => v !== null);
  }
}

function dedupe(keys: readonly string[]): string[] {
  return [...new Set(keys)];
}

/** Reads one column of a keyed record as text (keys and attributes as they are, fields as numbers). */
function columnPicker(layout: DatasetLayout, column: string): (r: KeyedRecord) => string | null {
  const key = layout.keys.findIndex((c) => c.name === column);
  if (key >= 0) return (r) => r.keys[key] ?? null;
  const attribute = layout.attributes.findIndex((c) => c.name === column);
  if (attribute >= 0) return (r) => r.attributes[attribute] ?? null;
  const field = layout.fields.findIndex((c) => c.name === column);
  if (field >= 0)
    return (r) => {
      const v = r.fields[field];
      return v === null || v === undefined || Number.isNaN(v) ? null : String(v);
    };
  throw new SluiceError(
    'bad_query',
    `'${column}' is not a key, attribute or field column of '${layout.spec.name}'`,
  );
}

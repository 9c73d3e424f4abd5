import type { DatasetLayout } from '../core/dataset.js';
import type { DatasetRegistry } from '../core/dataset-registry.js';
import { SluiceError } from '../core/errors.js';
import type { MetaStore } from '../store/meta-store.js';
import type { KeyFilter, SeriesAgg, SeriesStore } from '../store/series-store.js';
import { isoOfUs, requireWindowOrder } from './query-params.js';
import { recordView } from './record-view.js';
import { EMPTY_SUMMARY, keepsPerKeyStats, type StatsSnapshot } from './stats-snapshot.js';

/** Reads: statistics from the in-memory snapshot, series from the SeriesStore, records by key. */
/** A series read: key filter, window, bucket step and aggregate, fields, and a row limit. */
export interface SeriesRequest {
  keys: KeyFilter;
  fromUs?: number;
  toUs?: number;
  stepMs?: number;
  agg: SeriesAgg;
  fields?: string[];
  limit: number;
}

export class QueryService {
  constructor(
    private readonly registry: DatasetRegistry,
    private readonly snapshot: StatsSnapshot,
    private readonly meta: MetaStore,
    private readonly series: SeriesStore,
  ) {}

  stats(dataset: string, keys: KeyFilter) {
    const { layout } = this.registry.get(dataset);
    const entries = Object.entries(keys);
    if (entries.length > 1 || (entries[0] && entries[0][1].length !== 1))
      throw new SluiceError(
        'bad_query',
        'Statistics take at most one key column with one value, e.g. ?device_id=dev-1',
      );
    const [column, vals] = entries[0] ?? [undefined, []];
    const value = vals[0];
    if (column !== undefined && !keepsPerKeyStats(layout))
      throw new SluiceError(
        'unsupported_for_mode',
        `Per-key statistics are for append-mode datasets; '${dataset}' is replace mode: use GET /v1/datasets/${dataset}/records/{key}`,
      );
    const fields = this.snapshot.summary(dataset, column, value);
    if (!fields && column !== undefined)
      throw new SluiceError('record_not_found', `No rows in '${dataset}' with ${column}=${value}`);
    return {
      dataset,
      key: column === undefined ? null : { [column]: value },
      fields: fields ?? Object.fromEntries(layout.fields.map((f) => [f.name, { ...EMPTY_SUMMARY }])),
    };
  }

  async seriesOf(dataset: string, q: SeriesRequest) {
    const { layout } = this.registry.get(dataset);
    this.requireAppend(layout, 'series');
    if (q.fromUs !== undefined && q.toUs !== undefined) requireWindowOrder(q.fromUs, q.toUs);
    const fields = q.fields?.length ? q.fields : layout.fields.map((f) => f.name);
    for (const f of fields)
      if (!layout.fields.some((c) => c.name === f))
        throw new SluiceError(
          'bad_query',
          `'${f}' is not a field of '${dataset}' (fields: ${layout.fields.map((c) => c.name).join(', ')})`,
        );
    const points = await this.series.series(layout, { ...q, fields });
    // Group rows by series key so the answer reads as one list of points per series. A bulk answer has
    // tens of thousands of points over a few bucket times, so each bucket's time is formatted once.
    const bySeries = new Map<string, { key: Record<string, string>; points: Record<string, unknown>[] }>();
    const isoOf = new Map<number, string>();
    for (const p of points) {
      const id = p.keys.length === 1 ? p.keys[0]! : JSON.stringify(p.keys);
      let s = bySeries.get(id);
      if (!s) {
        s = { key: Object.fromEntries(layout.keys.map((k, i) => [k.name, p.keys[i] ?? ''])), points: [] };
        bySeries.set(id, s);
      }
      let time = q.stepMs === undefined ? isoOfUs(p.timeUs) : isoOf.get(p.timeUs);
      if (time === undefined) isoOf.set(p.timeUs, (time = isoOfUs(p.timeUs)));
      const point: Record<string, unknown> = { time };
      for (let i = 0; i < fields.length; i++) point[fields[i]!] = p.values[i];
      s.points.push(point);
    }
    return {
      dataset,
      agg: q.stepMs ? q.agg : null,
      step_ms: q.stepMs ?? null,
      from: q.fromUs === undefined ? null : isoOfUs(q.fromUs),
      to: q.toUs === undefined ? null : isoOfUs(q.toUs),
      fields,
      series: [...bySeries.values()],
    };
  }

  /** The record with this key (replace mode) or the latest one for it (append mode). */
  async record(dataset: string, keyValues: string[]): Promise<Record<string, unknown>> {
    const { layout } = this.registry.get(dataset);
    if (keyValues.length !== layout.keys.length)
      throw new SluiceError(
        'bad_query',
        `'${dataset}' is keyed by ${layout.keys.map((k) => k.name).join(', ')}; give every key column`,
      );
    const found =
      layout.spec.mode === 'replace'
        ? await this.meta.getRecord(layout, keyValues)
        : await this.series.latest(
            layout,
            Object.fromEntries(layout.keys.map((k, i) => [k.name, [keyValues[i]!]])),
          );
    if (!found)
      throw new SluiceError('record_not_found', `No record in '${dataset}' with key ${keyValues.join(', ')}`);
    return recordView(layout, found);
  }

  /** Hot path for facades: the raw record or undefined, no error objects. */
  findRecord(layout: DatasetLayout, keyValues: string[]) {
    return this.meta.getRecord(layout, keyValues);
  }

  private requireAppend(layout: DatasetLayout, what: string): void {
    if (layout.spec.mode !== 'append')
      throw new SluiceError(
        'unsupported_for_mode',
        `${what} is for append-mode datasets; '${layout.spec.name}' is ${layout.spec.mode}`,
      );
  }
}

import type { Logger } from 'pino';
import type { DatasetLayout } from '../../core/dataset.js';
import { Coalescer } from '../../core/coalescer.js';
import type { DatasetRegistry } from '../../core/dataset-registry.js';
import { durationMs } from '../../core/duration.js';
import { SluiceError } from '../../core/errors.js';
import type { MetaStore } from '../../store/meta-store.js';
import type { KeyFilter, SeriesStore } from '../../store/series-store.js';
import type { LiveRollups } from './live-rollups.js';
import { requireWindowOrder } from '../query-params.js';
import { AggregationJobs, type AggregationRequest } from './aggregation-jobs.js';
import { historyKey, historyOf, type HistoryAnswer } from './history.js';
import { topKKey, topKOf, type TopKAnswer, type TopKBy } from './topk.js';

const DAY_MS = 86_400_000;

export interface WindowInput {
  fromUs?: number;
  toUs?: number;
}

/**
 * Top-K, daily history and aggregation jobs for append-mode datasets, all answered from the stored
 * rollups, so they keep answering after raw data has gone and cost the same for any window length.
 * Results count every applied row: the store adds rows not yet folded into rollups from raw rows.
 * Reads of levels with few series are answered from memory (`LiveRollups`), with the same results.
 * Identical top-K and history requests share store queries (`Coalescer`): a dashboard polled by many
 * viewers costs one query at a time, not one per viewer, and every answer is as fresh as its request.
 */
export class AnalyticsService {
  readonly jobs: AggregationJobs;
  private readonly topKs = new Coalescer<TopKAnswer>();
  private readonly histories = new Coalescer<HistoryAnswer>();

  constructor(
    private readonly deps: {
      registry: DatasetRegistry;
      series: SeriesStore;
      live: LiveRollups;
      meta: MetaStore;
      log: Logger;
    },
  ) {
    this.jobs = new AggregationJobs({ ...deps, layoutOf: (name) => this.layout(name) });
  }

  /** Rollup reads for top-K and history: from memory where it holds the level, else the store. */
  private readonly rollups: Pick<SeriesStore, 'readRollups'> = {
    readRollups: (layout, q) => this.deps.live.read(layout, q) ?? this.deps.series.readRollups(layout, q),
  };

  /** The dataset's layout, checked to be append mode on a store that keeps rollups. */
  layout(dataset: string): DatasetLayout {
    const { layout } = this.deps.registry.get(dataset);
    if (layout.spec.mode !== 'append')
      throw new SluiceError(
        'unsupported_for_mode',
        `rollup queries are for append-mode datasets; '${dataset}' is ${layout.spec.mode}`,
      );
    if (!this.deps.series.capabilities.has('rollups'))
      throw new SluiceError(
        'capability_missing',
        `the ${this.deps.series.kind} series store keeps no rollups`,
      );
    return layout;
  }

  /** Without bounds, a window covers everything the rollups keep: retention back to tomorrow. */
  window(layout: DatasetLayout, w: WindowInput): { fromUs: number; toUs: number } {
    const now = Date.now();
    const toUs = w.toUs ?? (Math.floor(now / DAY_MS) + 1) * DAY_MS * 1000;
    const fromUs = w.fromUs ?? (now - durationMs(layout.spec.retention.rollups)) * 1000;
    requireWindowOrder(fromUs, toUs);
    return { fromUs, toUs };
  }

  topK(
    dataset: string,
    q: WindowInput & { k: number; by: TopKBy; field?: string; group?: string; keys?: KeyFilter },
  ): Promise<TopKAnswer> {
    const layout = this.layout(dataset);
    const query = { ...q, ...this.window(layout, q) };
    return this.topKs.run(topKKey(dataset, query), () => topKOf(this.rollups, layout, query));
  }

  history(dataset: string, w: WindowInput & { fillDays: boolean }): Promise<HistoryAnswer> {
    const layout = this.layout(dataset);
    const query = { ...this.window(layout, w), fillDays: w.fillDays };
    return this.histories.run(historyKey(dataset, query), () => historyOf(this.rollups, layout, query));
  }

  submitAggregation(request: AggregationRequest, client: string | null) {
    return this.jobs.submit(request, client);
  }

  getAggregation(id: string) {
    return this.jobs.get(id);
  }

  resume(): Promise<void> {
    return this.jobs.resume();
  }

  close(): Promise<void> {
    return this.jobs.close();
  }
}

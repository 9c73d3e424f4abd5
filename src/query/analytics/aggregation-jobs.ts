import type { Logger } from 'pino';
import type { DatasetLayout } from '../../core/dataset.js';
import { parseDuration } from '../../core/duration.js';
import { SluiceError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import { parseTimeToUs } from '../../ingest/time-parse.js';
import type { JobRow, MetaStore } from '../../store/meta-store.js';
import type { SeriesStore } from '../../store/series-store.js';
import { isoOfUs, requireWindowOrder } from '../query-params.js';
import { isQuantile, metricValue, parseMetric, type Metric } from './metric.js';
import { planStepped, planWindow } from './rollup-window.js';

export const AGGREGATION_JOB = 'aggregation';
/** Windows up to this long are answered before the POST returns; longer ones run in the background. */
const INLINE_WINDOW_US = 86_400_000_000;
/** Time buckets one job may produce (per group). */
const MAX_STEPS = 100_000;

/** The body of `POST /v1/aggregations`. Times are RFC 3339 or epoch; step a duration (1m, 1h, 1d). */
export interface AggregationRequest {
  dataset: string;
  from: string | number;
  to: string | number;
  metrics: string[];
  group_by?: string[];
  step?: string;
  /** Names to report each metric's value under (facades keep their clients' names); default the metric text. */
  labels?: string[];
}

interface Plan {
  layout: DatasetLayout;
  fromUs: number;
  toUs: number;
  stepUs: number | undefined;
  metrics: Metric[];
  groupBy: string[];
}

export interface AggregationRow {
  /** Step bucket start; absent without a step. */
  time?: string;
  group: Record<string, string>;
  values: Record<string, number | null>;
}

export interface AggregationResult {
  dataset: string;
  from: string;
  to: string;
  step: string | null;
  group_by: string[];
  metrics: string[];
  /** False when a quantile comes from sketches that no longer hold every value. */
  exact: boolean;
  rows: AggregationRow[];
}

export interface AggregationJobView {
  id: string;
  status: JobRow['status'];
  request: AggregationRequest;
  result: AggregationResult | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

function stepText(stepUs: number): string {
  const minutes = stepUs / 60_000_000;
  if (minutes % 1440 === 0) return `${minutes / 1440}d`;
  if (minutes % 60 === 0) return `${minutes / 60}h`;
  return `${minutes}m`;
}

function timeOf(name: string, v: unknown): number {
  const us =
    typeof v === 'number' ? parseTimeToUs(String(v)) : typeof v === 'string' ? parseTimeToUs(v) : undefined;
  if (us === undefined)
    throw new SluiceError(
      'bad_query',
      `'${name}' must be an RFC 3339 time or epoch number; got ${JSON.stringify(v)}`,
    );
  return us;
}

/**
 * Aggregation jobs: metrics over a window, grouped by key columns and optionally by time step, from
 * rollups. A job is stored in the MetaStore with its request and, when done, its result, so it can
 * be fetched later and survives a restart (unfinished jobs run again at start).
 */
export class AggregationJobs {
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly deps: {
      series: SeriesStore;
      meta: MetaStore;
      log: Logger;
      layoutOf: (dataset: string) => DatasetLayout;
    },
  ) {}

  /** Checks a request; every problem is a `bad_query` (or unknown dataset) naming what is wrong. */
  plan(req: AggregationRequest): Plan {
    if (typeof req.dataset !== 'string') throw new SluiceError('bad_query', `'dataset' is required`);
    const layout = this.deps.layoutOf(req.dataset);
    const fromUs = timeOf('from', req.from);
    const toUs = timeOf('to', req.to);
    requireWindowOrder(fromUs, toUs);
    if (!Array.isArray(req.metrics) || req.metrics.length === 0)
      throw new SluiceError(
        'bad_query',
        `'metrics' must be a non-empty list such as ["count", "mean(${layout.fields[0]?.name ?? 'value'})"]`,
      );
    const metrics = req.metrics.map((m, i) => {
      const metric = parseMetric(layout, String(m));
      return { ...metric, name: req.labels?.[i] ?? metric.name };
    });
    const groupBy = req.group_by ?? [];
    for (const g of groupBy)
      if (!layout.keys.some((k) => k.name === g))
        throw new SluiceError(
          'bad_query',
          `'group_by' takes key columns of '${layout.spec.name}' (${layout.keys.map((k) => k.name).join(', ')}); got ${g}`,
        );
    let stepUs: number | undefined;
    if (req.step !== undefined) {
      const ms = parseDuration(String(req.step));
      if (ms === undefined || ms < 60_000 || ms % 60_000 !== 0)
        throw new SluiceError(
          'bad_query',
          `'step' must be a whole number of minutes such as 1m, 1h, 1d; got ${req.step}`,
        );
      stepUs = ms * 1000;
      if ((toUs - fromUs) / stepUs > MAX_STEPS)
        throw new SluiceError(
          'bad_query',
          `the window holds more than ${MAX_STEPS} steps of ${req.step}; use a larger step`,
        );
    }
    return { layout, fromUs, toUs, stepUs, metrics, groupBy };
  }

  async run(plan: Plan): Promise<AggregationResult> {
    const { layout, stepUs, metrics, groupBy } = plan;
    const window =
      stepUs === undefined ? planWindow(plan.fromUs, plan.toUs) : planStepped(plan.fromUs, plan.toUs, stepUs);
    const fields = [...new Set(metrics.flatMap((m) => (m.field === null ? [] : [m.field])))];
    const groups = await this.deps.series.readRollups(layout, {
      segments: window.segments,
      keys: {},
      groupBy,
      fields,
      stepUs,
      sketches: metrics.some((m) => isQuantile(m.agg)),
    });
    let exact = true;
    const rows: AggregationRow[] = groups.map((g) => {
      const values: Record<string, number | null> = {};
      for (const m of metrics) {
        const agg = m.field === null ? undefined : g.fields[fields.indexOf(m.field)];
        if (isQuantile(m.agg) && agg?.sketch !== undefined && !agg.sketch.exact) exact = false;
        values[m.name] = metricValue(m, g.rows, agg);
      }
      const row: AggregationRow = {
        group: Object.fromEntries(groupBy.map((c, i) => [c, g.group[i] ?? ''])),
        values,
      };
      return stepUs === undefined ? row : { time: isoOfUs(g.bucketUs), ...row };
    });
    const keyOf = (r: AggregationRow): string =>
      `${r.time ?? ''}\u001f${Object.values(r.group).join('\u001f')}`;
    rows.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
    return {
      dataset: layout.spec.name,
      from: isoOfUs(window.fromUs),
      to: isoOfUs(window.toUs),
      step: stepUs === undefined ? null : stepText(stepUs),
      group_by: groupBy,
      metrics: metrics.map((m) => m.name),
      exact,
      rows,
    };
  }

  /** Stores the job; a small window is computed before this returns, a large one in the background. */
  async submit(req: AggregationRequest, client: string | null): Promise<AggregationJobView> {
    const plan = this.plan(req);
    const job = await this.deps.meta.createJob({
      id: newId('agg'),
      kind: AGGREGATION_JOB,
      client,
      input: JSON.stringify(req),
    });
    if (plan.toUs - plan.fromUs <= INLINE_WINDOW_US) await this.execute(job.id, plan);
    else this.enqueue(job.id, plan);
    return this.get(job.id);
  }

  async get(id: string): Promise<AggregationJobView> {
    const job = await this.deps.meta.getJob(id);
    if (job === undefined || job.kind !== AGGREGATION_JOB)
      throw new SluiceError('job_not_found', `No aggregation job ${id}`);
    return {
      id: job.id,
      status: job.status,
      request: JSON.parse(job.input) as AggregationRequest,
      result: job.result === null ? null : (JSON.parse(job.result) as AggregationResult),
      error: job.error,
      created_at: new Date(job.createdAt).toISOString(),
      finished_at: job.finishedAt === null ? null : new Date(job.finishedAt).toISOString(),
    };
  }

  /** Runs jobs left queued or running by a stop. */
  async resume(): Promise<void> {
    for (const job of await this.deps.meta.unfinishedJobs(AGGREGATION_JOB)) {
      try {
        this.enqueue(job.id, this.plan(JSON.parse(job.input) as AggregationRequest));
      } catch (e) {
        await this.deps.meta.updateJob(job.id, {
          status: 'failed',
          error: (e as Error).message,
          finishedAt: Date.now(),
        });
      }
    }
  }

  /** Waits for background jobs to finish. */
  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
  }

  /** Background jobs run one at a time, so a burst of large windows cannot crowd out queries. */
  private enqueue(id: string, plan: Plan): void {
    this.chain = this.chain.then(() => (this.closed ? undefined : this.execute(id, plan)));
  }

  private async execute(id: string, plan: Plan): Promise<void> {
    const { meta, log } = this.deps;
    try {
      await meta.updateJob(id, { status: 'running', startedAt: Date.now() });
      const result = await this.run(plan);
      await meta.updateJob(id, { status: 'done', result: JSON.stringify(result), finishedAt: Date.now() });
    } catch (e) {
      log.warn({ err: e, job: id }, 'aggregation job failed');
      await meta
        .updateJob(id, { status: 'failed', error: (e as Error).message, finishedAt: Date.now() })
        .catch((err: unknown) => log.error({ err, job: id }, 'cannot record a failed aggregation job'));
    }
  }
}

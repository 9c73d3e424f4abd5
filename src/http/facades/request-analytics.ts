import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import type { AggregationJobView } from '../../query/analytics/aggregation-jobs.js';
import type { TopKBy } from '../../query/analytics/topk.js';
import { enumParam, intParam, timeParam, values, type QueryValue } from '../../query/query-params.js';
import type { Sluice } from '../../runtime.js';
import { requireDataset } from '../plugins/auth.js';

/** The dataset and field the request-analytics API is about (see sluice.yaml). */
export const REQUESTS_DATASET = 'requests';
const LATENCY = 'latency_ms';
const DAY_US = 86_400_000_000;

/** Metric names the request-analytics clients send, mapped to Sluice metrics. */
const METRIC_ALIASES: Record<string, string> = {
  frequency: 'count',
  total_requests: 'count',
  request_count: 'count',
  latency: `mean(${LATENCY})`,
  average_latency: `mean(${LATENCY})`,
  avg_latency: `mean(${LATENCY})`,
  mean_latency: `mean(${LATENCY})`,
  min_latency: `min(${LATENCY})`,
  max_latency: `max(${LATENCY})`,
  p50_latency: `p50(${LATENCY})`,
  p90_latency: `p90(${LATENCY})`,
  p95_latency: `p95(${LATENCY})`,
  p99_latency: `p99(${LATENCY})`,
};

type Q = Record<string, QueryValue>;

interface AggregateBody {
  start_time: string | number;
  end_time: string | number;
  metrics: string[];
  group_by?: string[];
  step?: string;
}

/**
 * The request-analytics API, with its own paths and `{"status":"success",…}` envelopes, over the
 * `requests` dataset. Errors are the usual problem+json documents. `GET /api/v1/requests/alerts`
 * is served by the alerting module.
 *
 * Top-K's group key (returned as `request_id`, the name the clients expect) is the `endpoint`
 * column by default; `?group=user_id` or `?group=status_code` ranks another key column.
 */
export function requestAnalyticsFacade(app: FastifyInstance, sluice: Sluice): void {
  const access = sluice.config.auth.open_facades ? 'public' : 'reader';
  const tags = ['facades'];
  const canRead = (req: Parameters<typeof requireDataset>[0]): void => {
    if (access !== 'public') requireDataset(req, REQUESTS_DATASET, 'reader');
  };

  app.get<{ Querystring: Q }>(
    '/api/v1/requests/top-k',
    {
      config: { access },
      schema: {
        tags,
        summary:
          'Top-K endpoints (or ?group=user_id|status_code) by frequency or mean latency (?k&metric&group&latency_stat&start_time&end_time)',
      },
    },
    async (req) => {
      canRead(req);
      const q = req.query;
      const metric = enumParam('metric', q.metric, ['frequency', 'latency'] as const, 'frequency');
      const stat = enumParam('latency_stat', q.latency_stat, ['mean', 'p95', 'max'] as const, 'mean');
      const by: TopKBy = metric === 'frequency' ? 'count' : stat;
      const answer = await sluice.analytics.topK(REQUESTS_DATASET, {
        k: intParam('k', q.k, 10, 1, 10_000),
        by,
        field: by === 'count' ? undefined : LATENCY,
        group: values(q.group)[0] || 'endpoint',
        fromUs: timeParam('start_time', q.start_time),
        toUs: timeParam('end_time', q.end_time),
      });
      return {
        status: 'success',
        data: answer.items.map((i) => ({ request_id: i.group, metric_value: i.value })),
      };
    },
  );

  app.post<{ Body: AggregateBody }>(
    '/api/v1/requests/aggregate',
    {
      config: { access },
      schema: {
        tags,
        summary:
          'Submit an aggregation over [start_time, end_time); fetch it at GET /api/v1/requests/aggregate/{id}',
        body: {
          type: 'object',
          required: ['start_time', 'end_time', 'metrics'],
          properties: {
            start_time: { anyOf: [{ type: 'string' }, { type: 'number' }] },
            end_time: { anyOf: [{ type: 'string' }, { type: 'number' }] },
            metrics: { type: 'array', minItems: 1, items: { type: 'string' } },
            group_by: { type: 'array', items: { type: 'string' } },
            step: { type: 'string' },
          },
        },
      },
    },
    async (req) => {
      canRead(req);
      const b = req.body;
      const job = await sluice.analytics.submitAggregation(
        {
          dataset: REQUESTS_DATASET,
          from: b.start_time,
          to: b.end_time,
          metrics: b.metrics.map((m) => METRIC_ALIASES[m] ?? m),
          labels: b.metrics,
          group_by: b.group_by,
          step: b.step,
        },
        req.principal?.id ?? null,
      );
      return { status: 'success', message: 'Aggregation request submitted.', aggregation_id: job.id };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/requests/aggregate/:id',
    {
      config: { access },
      schema: {
        tags,
        summary: 'An aggregation: its state (queued, running, done, failed) and, when done, its rows',
      },
    },
    async (req) => {
      canRead(req);
      const job = await sluice.analytics.getAggregation(req.params.id);
      if (job.request.dataset !== REQUESTS_DATASET)
        throw new SluiceError('job_not_found', `No request aggregation ${req.params.id}`);
      return facadeJob(job);
    },
  );

  app.get<{ Querystring: Q }>(
    '/api/v1/requests/history',
    {
      config: { access },
      schema: {
        tags,
        summary: 'Daily totals and average latency from start_date to end_date (inclusive, UTC days)',
      },
    },
    async (req) => {
      canRead(req);
      const fromUs = timeParam('start_date', req.query.start_date);
      const endUs = timeParam('end_date', req.query.end_date);
      // end_date names the last day wanted.
      const toUs = endUs === undefined ? undefined : Math.floor(endUs / DAY_US) * DAY_US + DAY_US;
      const h = await sluice.analytics.history(REQUESTS_DATASET, {
        fromUs,
        toUs,
        fillDays: fromUs !== undefined && toUs !== undefined,
      });
      return {
        status: 'success',
        data: h.days.map((d) => ({
          date: d.date,
          total_requests: d.total,
          average_latency: d.fields[LATENCY]?.mean ?? null,
        })),
      };
    },
  );
}

/** The facade's view of a job: metric names as the client sent them. */
function facadeJob(job: AggregationJobView) {
  return {
    status: 'success',
    aggregation_id: job.id,
    state: job.status,
    error: job.error,
    data:
      job.result === null
        ? null
        : {
            start_time: job.result.from,
            end_time: job.result.to,
            step: job.result.step,
            group_by: job.result.group_by,
            exact: job.result.exact,
            rows: job.result.rows,
          },
  };
}

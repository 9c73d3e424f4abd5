import type { FastifyInstance } from 'fastify';
import { TOPK_BY } from '../../query/analytics/topk.js';
import type { AggregationRequest } from '../../query/analytics/aggregation-jobs.js';
import {
  enumParam,
  intParam,
  keyFilterOf,
  timeParam,
  values,
  type QueryValue,
} from '../../query/query-params.js';
import type { Sluice } from '../../runtime.js';
import { requireDataset } from '../plugins/auth.js';

const tags = ['analytics'];
type Q = Record<string, QueryValue>;
const TOPK_OPTIONS = ['k', 'by', 'field', 'group', 'from', 'to'] as const;

const aggregationBody = {
  type: 'object',
  required: ['dataset', 'from', 'to', 'metrics'],
  properties: {
    dataset: { type: 'string' },
    from: {
      anyOf: [{ type: 'string' }, { type: 'number' }],
      description: 'RFC 3339 time or epoch s/ms/µs/ns (inclusive)',
    },
    to: {
      anyOf: [{ type: 'string' }, { type: 'number' }],
      description: 'RFC 3339 time or epoch (exclusive)',
    },
    metrics: {
      type: 'array',
      minItems: 1,
      items: { type: 'string' },
      description:
        'count, or count|sum|mean|min|max|stddev|p50|p90|p95|p99 of a field, e.g. "p95(latency_ms)"',
    },
    group_by: { type: 'array', items: { type: 'string' }, description: 'key columns' },
    step: { type: 'string', description: 'time bucket, a whole number of minutes: 1m, 15m, 1h, 1d' },
  },
} as const;

/** Top-K, daily history and aggregation jobs over append-mode datasets, answered from rollups. */
export function analyticsRoutes(app: FastifyInstance, sluice: Sluice): void {
  app.get<{ Params: { name: string }; Querystring: Q }>(
    '/v1/datasets/:name/topk',
    {
      config: { access: 'reader' },
      schema: {
        tags,
        summary:
          'The k values of a key column with the largest count, mean, p95 or max over a window (?k&by&field&group&from&to)',
      },
    },
    async (req) => {
      requireDataset(req, req.params.name, 'reader');
      const { layout } = sluice.registry.get(req.params.name);
      const q = req.query;
      return sluice.analytics.topK(req.params.name, {
        k: intParam('k', q.k, 10, 1, 10_000),
        by: enumParam('by', q.by, TOPK_BY, 'count'),
        field: values(q.field)[0] || undefined,
        group: values(q.group)[0] || undefined,
        fromUs: timeParam('from', q.from),
        toUs: timeParam('to', q.to),
        keys: keyFilterOf(layout, q, TOPK_OPTIONS),
      });
    },
  );

  app.get<{ Params: { name: string }; Querystring: Q }>(
    '/v1/datasets/:name/history',
    {
      config: { access: 'reader' },
      schema: {
        tags,
        summary: 'Daily totals and per-field means, min and max over whole UTC days (?from&to)',
      },
    },
    async (req) => {
      requireDataset(req, req.params.name, 'reader');
      const { layout } = sluice.registry.get(req.params.name);
      keyFilterOf(layout, req.query, ['from', 'to']);
      const fromUs = timeParam('from', req.query.from);
      const toUs = timeParam('to', req.query.to);
      return sluice.analytics.history(req.params.name, {
        fromUs,
        toUs,
        fillDays: fromUs !== undefined && toUs !== undefined,
      });
    },
  );

  app.post<{ Body: AggregationRequest }>(
    '/v1/aggregations',
    {
      config: { access: 'reader' },
      schema: {
        tags,
        summary:
          'Start an aggregation job; windows up to a day finish before the answer (201), longer ones run in the background (202)',
        body: aggregationBody,
      },
    },
    async (req, reply) => {
      requireDataset(req, req.body.dataset, 'reader');
      const job = await sluice.analytics.submitAggregation(req.body, req.principal?.id ?? null);
      return reply
        .code(job.status === 'done' || job.status === 'failed' ? 201 : 202)
        .header('Location', `/v1/aggregations/${job.id}`)
        .send(job);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/aggregations/:id',
    {
      config: { access: 'reader' },
      schema: { tags, summary: 'An aggregation job: status, request and result' },
    },
    async (req) => {
      const job = await sluice.analytics.getAggregation(req.params.id);
      requireDataset(req, job.request.dataset, 'reader');
      return job;
    },
  );
}

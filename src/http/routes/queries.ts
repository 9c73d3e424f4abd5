import type { FastifyInstance } from 'fastify';
import {
  durationParam,
  enumParam,
  intParam,
  keyFilterOf,
  timeParam,
  values,
  type QueryValue,
} from '../../query/query-params.js';
import { SERIES_AGGS } from '../../store/series-store.js';
import type { Sluice } from '../../runtime.js';
import { requireDataset } from '../plugins/auth.js';

const tags = ['queries'];
type Q = Record<string, QueryValue>;
const SERIES_OPTIONS = ['from', 'to', 'step', 'agg', 'field', 'limit'] as const;

export function queryRoutes(app: FastifyInstance, sluice: Sluice): void {
  app.get<{ Params: { name: string }; Querystring: Q }>(
    '/v1/datasets/:name/stats',
    {
      config: { access: 'reader' },
      schema: {
        tags,
        summary:
          'Statistics per field, for the dataset, one key value (?device_id=a) or several (?device_id=a&device_id=b), from memory',
      },
    },
    async (req) => {
      requireDataset(req, req.params.name, 'reader');
      const { layout } = sluice.registry.get(req.params.name);
      const filter = keyFilterOf(layout, req.query, []);
      const [column, many] = Object.entries(filter)[0] ?? [];
      // Several values of one key column: one answer with a summary per value (`missing` lists the rest).
      if (column !== undefined && many!.length > 1 && Object.keys(filter).length === 1)
        return { dataset: req.params.name, ...sluice.bulkReads.stats(layout, column, [...new Set(many)]) };
      return sluice.queries.stats(req.params.name, filter);
    },
  );

  app.get<{ Params: { name: string }; Querystring: Q }>(
    '/v1/datasets/:name/series',
    {
      config: { access: 'reader' },
      schema: { tags, summary: 'Points or bucketed aggregates over time (?{key}=…&from&to&step&agg&field)' },
    },
    async (req) => {
      requireDataset(req, req.params.name, 'reader');
      const { layout } = sluice.registry.get(req.params.name);
      const q = req.query;
      const stepMs = durationParam('step', q.step);
      return sluice.queries.seriesOf(req.params.name, {
        keys: keyFilterOf(layout, q, SERIES_OPTIONS),
        fromUs: timeParam('from', q.from),
        toUs: timeParam('to', q.to),
        stepMs,
        agg: enumParam('agg', q.agg, SERIES_AGGS, 'mean'),
        fields: values(q.field)
          .flatMap((f) => f.split(','))
          .filter(Boolean),
        limit: intParam('limit', q.limit, 10_000, 1, 1_000_000),
      });
    },
  );

  app.get<{ Params: { name: string; key: string }; Querystring: Q }>(
    '/v1/datasets/:name/records/:key',
    {
      config: { access: 'reader' },
      schema: {
        tags,
        summary:
          'The record with this key (replace mode) or the latest one (append mode); further key columns as query',
      },
    },
    async (req) => {
      requireDataset(req, req.params.name, 'reader');
      const { layout } = sluice.registry.get(req.params.name);
      const rest = keyFilterOf(layout, req.query, []);
      const keyValues = layout.keys.map((k, i) => (i === 0 ? req.params.key : (rest[k.name]?.[0] ?? '')));
      return { dataset: req.params.name, record: await sluice.queries.record(req.params.name, keyValues) };
    },
  );
}

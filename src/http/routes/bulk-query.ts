import type { FastifyInstance } from 'fastify';
import { durationParam, timeParam } from '../../query/query-params.js';
import { BULK_KINDS, MAX_BULK_KEYS, type BulkKind } from '../../query/bulk-query.js';
import { SERIES_AGGS, type SeriesAgg } from '../../store/series-store.js';
import type { Sluice } from '../../runtime.js';
import { requireDataset } from '../plugins/auth.js';

interface Body {
  dataset: string;
  kind: BulkKind;
  key_column?: string;
  keys?: string[];
  key_from?: { dataset: string; where: Record<string, string>; column: string };
  from?: string | number;
  to?: string | number;
  step?: string;
  agg?: SeriesAgg;
  field?: string[];
  limit?: number;
}

const timeSchema = { anyOf: [{ type: 'string' }, { type: 'number' }] };

/** `POST /v1/query`: series, statistics or latest rows for many keys, in one round trip and one store query. */
export function bulkQueryRoutes(app: FastifyInstance, sluice: Sluice): void {
  app.post<{ Body: Body }>(
    '/v1/query',
    {
      config: { access: 'reader' },
      schema: {
        tags: ['queries'],
        summary:
          'Bulk read: series, stats or latest for many keys (listed, or looked up in a replace-mode dataset) in one request',
        body: {
          type: 'object',
          required: ['dataset', 'kind'],
          additionalProperties: false,
          properties: {
            dataset: { type: 'string' },
            kind: { type: 'string', enum: [...BULK_KINDS] },
            key_column: { type: 'string' },
            keys: { type: 'array', items: { type: 'string' }, maxItems: MAX_BULK_KEYS },
            key_from: {
              type: 'object',
              required: ['dataset', 'column'],
              additionalProperties: false,
              properties: {
                dataset: { type: 'string' },
                where: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
                column: { type: 'string' },
              },
            },
            from: timeSchema,
            to: timeSchema,
            step: { type: 'string' },
            agg: { type: 'string', enum: [...SERIES_AGGS], default: 'mean' },
            field: { type: 'array', items: { type: 'string' } },
            limit: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 100_000 },
          },
        },
      },
    },
    async (req) => {
      const b = req.body;
      const keyFrom = b.key_from ? { ...b.key_from, where: b.key_from.where ?? {} } : undefined;
      for (const d of sluice.bulkReads.datasetsOf({ dataset: b.dataset, keyFrom }))
        requireDataset(req, d, 'reader');
      return sluice.bulkReads.run({
        dataset: b.dataset,
        kind: b.kind,
        keyColumn: b.key_column,
        keys: b.keys,
        keyFrom,
        fromUs: timeParam('from', b.from === undefined ? undefined : String(b.from)),
        toUs: timeParam('to', b.to === undefined ? undefined : String(b.to)),
        stepMs: durationParam('step', b.step),
        agg: b.agg ?? 'mean',
        fields: b.field,
        limit: b.limit ?? 100_000,
      });
    },
  );
}

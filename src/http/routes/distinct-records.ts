import type { FastifyInstance } from 'fastify';
import { intParam, keyFilterOf, timeParam, type QueryValue } from '../../query/query-params.js';
import { distinctRows } from '../../query/distinct-rows.js';
import type { Sluice } from '../../runtime.js';
import { requireDataset } from '../plugins/auth.js';

const OPTIONS = ['from', 'to', 'limit'] as const;

/** `GET /v1/datasets/{name}/records?{key}=…&from&to&limit`: stored records in a range, never a duplicate. */
export function distinctRecordRoutes(app: FastifyInstance, sluice: Sluice): void {
  app.get<{ Params: { name: string }; Querystring: Record<string, QueryValue> }>(
    '/v1/datasets/:name/records',
    {
      config: { access: 'reader' },
      schema: {
        tags: ['queries'],
        summary:
          'Stored records in a time range with payloads, each distinct record once (?{key}=…&from&to&limit)',
      },
    },
    async (req) => {
      requireDataset(req, req.params.name, 'reader');
      const { layout } = sluice.registry.get(req.params.name);
      const q = req.query;
      const result = await distinctRows(sluice.series, layout, {
        keys: keyFilterOf(layout, q, OPTIONS),
        fromUs: timeParam('from', q.from),
        toUs: timeParam('to', q.to),
        limit: intParam('limit', q.limit, 10_000, 1, 1_000_000),
      });
      return { dataset: req.params.name, distinct: true, ...result };
    },
  );
}

import type { FastifyInstance } from 'fastify';
import { durationParam, timeParam } from '../../query/query-params.js';
import { SluiceError } from '../../core/errors.js';
import type { Sluice } from '../../runtime.js';
import { requireDataset } from '../plugins/auth.js';

const DAY_MS = 86_400_000;

export function qualityRoutes(app: FastifyInstance, sluice: Sluice): void {
  app.get<{
    Querystring: {
      dataset?: string;
      client?: string;
      from?: string;
      to?: string;
      step?: string;
      top: number;
    };
  }>(
    '/v1/quality',
    {
      config: { access: 'reader' },
      schema: {
        tags: ['quality'],
        summary:
          'Invalid-row rates over time, per dataset and client, with the top reject reasons and example lines',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            dataset: { type: 'string' },
            client: { type: 'string' },
            from: { type: 'string', description: 'RFC 3339 or epoch; default 24 hours before `to`' },
            to: { type: 'string', description: 'RFC 3339 or epoch; default now' },
            step: { type: 'string', description: 'Bucket width (1m, 1h, 1d); default 1h; at least 1m' },
            top: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
          },
        },
      },
    },
    async (req) => {
      const q = req.query;
      if (q.dataset !== undefined) requireDataset(req, q.dataset, 'reader');
      else if (req.principal?.datasets)
        throw new SluiceError('forbidden', 'This key is limited to some datasets; name one with ?dataset=');
      const toUs = timeParam('to', q.to);
      const toMs = toUs === undefined ? Date.now() : Math.floor(toUs / 1000);
      const fromUs = timeParam('from', q.from);
      const fromMs = fromUs === undefined ? toMs - DAY_MS : Math.floor(fromUs / 1000);
      if (fromMs >= toMs) throw new SluiceError('bad_query', "'from' must be before 'to'");
      const stepMs = durationParam('step', q.step) ?? 3_600_000;
      if ((toMs - fromMs) / Math.max(stepMs, 60_000) > 100_000)
        throw new SluiceError('bad_query', 'More than 100000 buckets; use a larger step');
      return sluice.alerting.quality.report({
        dataset: q.dataset,
        client: q.client,
        fromMs,
        toMs,
        stepMs,
        top: q.top,
      });
    },
  );
}

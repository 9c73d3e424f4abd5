import type { FastifyInstance } from 'fastify';
import { SEVERITIES } from '../../alerts/alert-config.js';
import type { Sluice } from '../../runtime.js';
import { visibleTo } from '../routes/alerts.js';

/**
 * `GET /api/v1/requests/alerts?severity` of the request-analytics API: the open (firing) alerts,
 * newest first, in its `{"status":"success","alerts":[…]}` envelope.
 */
export function requestAlertsFacade(app: FastifyInstance, sluice: Sluice): void {
  app.get<{ Querystring: { severity?: (typeof SEVERITIES)[number] } }>(
    '/api/v1/requests/alerts',
    {
      config: { access: 'reader' },
      schema: {
        tags: ['facades'],
        summary: 'Open alerts: {"status":"success","alerts":[{alert_id,description,timestamp,severity}]}',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { severity: { type: 'string', enum: [...SEVERITIES] } },
        },
      },
    },
    async (req) => {
      const rows = await sluice.alerting.service.list({
        state: 'firing',
        severity: req.query.severity,
        limit: 1000,
      });
      return {
        status: 'success',
        alerts: rows
          .filter((a) => visibleTo(req, a))
          .map((a) => ({
            alert_id: a.id,
            description: a.description,
            timestamp: new Date(a.startedAt).toISOString(),
            severity: a.severity,
          })),
      };
    },
  );
}

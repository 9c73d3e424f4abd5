import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SEVERITIES, silenceSpecSchema } from '../../alerts/alert-config.js';
import { alertView, silenceView } from '../../alerts/alert-view.js';
import { parseBody } from '../../config/load.js';
import { SluiceError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { AlertRow } from '../../store/alert-store.js';
import type { Sluice } from '../../runtime.js';

const tags = ['alerts'];

/** Keys limited to some datasets see the alerts about those datasets only. */
export function visibleTo(req: FastifyRequest, a: AlertRow): boolean {
  const scope = req.principal?.datasets;
  return !scope || (a.labels.dataset !== undefined && scope.has(a.labels.dataset));
}

export function alertRoutes(app: FastifyInstance, sluice: Sluice): void {
  const alerting = sluice.alerting;

  app.get<{
    Querystring: {
      severity?: (typeof SEVERITIES)[number];
      state?: 'firing' | 'resolved';
      rule?: string;
      limit: number;
    };
  }>(
    '/v1/alerts',
    {
      config: { access: 'reader' },
      schema: {
        tags,
        summary: 'Alerts, newest first (?severity=info|warning|critical&state=firing|resolved&rule&limit)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            severity: { type: 'string', enum: [...SEVERITIES] },
            state: { type: 'string', enum: ['firing', 'resolved'] },
            rule: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 100 },
          },
        },
      },
    },
    async (req) => {
      const { severity, state, rule, limit } = req.query;
      const rows = await alerting.service.list({ severity, state, ruleId: rule, limit });
      return {
        alerts: rows
          .filter((a) => visibleTo(req, a))
          .map((a) => alertView(a, alerting.service.isSilenced(a))),
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/alerts/:id',
    { config: { access: 'reader' }, schema: { tags, summary: 'One alert' } },
    async (req) => {
      const a = await alerting.service.get(req.params.id);
      if (!visibleTo(req, a)) throw new SluiceError('alert_not_found', `Unknown alert '${req.params.id}'`);
      return alertView(a, alerting.service.isSilenced(a));
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/alerts/:id/ack',
    {
      config: { access: 'writer' },
      schema: { tags, summary: 'Acknowledge an alert (idempotent); it stays open until it resolves' },
    },
    async (req) => {
      const a = await alerting.service.get(req.params.id);
      if (!visibleTo(req, a)) throw new SluiceError('alert_not_found', `Unknown alert '${req.params.id}'`);
      const acked = await alerting.service.ack(req.params.id, req.principal?.id ?? null);
      return alertView(acked, alerting.service.isSilenced(acked));
    },
  );

  app.post(
    '/v1/alerts/evaluate',
    { config: { access: 'admin' }, schema: { tags, summary: 'Evaluate every alert rule now' } },
    async () => {
      await alerting.evaluator.tick();
      await alerting.idle();
      return { evaluated: alerting.rules().length };
    },
  );

  app.post(
    '/v1/alerts/summary',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Build the scheduled summary now and send it to the summary channels' },
    },
    async () => {
      const { summary, deliveries } = await alerting.summaries.send();
      return { summary, deliveries, next_scheduled: alerting.summaries.nextRun()?.toISOString() ?? null };
    },
  );

  app.get(
    '/v1/silences',
    { config: { access: 'reader' }, schema: { tags, summary: 'Silences, active and scheduled' } },
    async () => ({ silences: alerting.service.listSilences().map((s) => silenceView(s, Date.now())) }),
  );

  app.post(
    '/v1/silences',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Silence notifications of matching alerts for a time window',
        body: {
          type: 'object',
          description: '{matchers: {label: value}, starts_at?, ends_at, comment?}; see docs/alerts.md',
        },
      },
    },
    async (req, reply) => {
      const spec = parseBody(silenceSpecSchema, req.body);
      const now = Date.now();
      const startsAt = spec.starts_at ? Date.parse(spec.starts_at) : now;
      const endsAt = Date.parse(spec.ends_at);
      if (endsAt <= startsAt) throw new SluiceError('bad_request', 'ends_at must be after starts_at');
      const row = {
        id: newId('sil'),
        matchers: spec.matchers,
        startsAt,
        endsAt,
        comment: spec.comment,
        createdBy: req.principal?.id ?? null,
        createdAt: now,
      };
      await alerting.service.addSilence(row);
      return reply.code(201).header('Location', `/v1/silences/${row.id}`).send(silenceView(row, now));
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/silences/:id',
    { config: { access: 'admin' }, schema: { tags, summary: 'End a silence' } },
    async (req, reply) => {
      await alerting.service.deleteSilence(req.params.id);
      return reply.code(204).send();
    },
  );
}

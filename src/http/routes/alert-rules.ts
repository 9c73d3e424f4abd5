import type { FastifyInstance } from 'fastify';
import { channelSpecSchema, ruleSpecSchema, type ChannelSpec } from '../../alerts/alert-config.js';
import { parseBody } from '../../config/load.js';
import type { ChannelStatus } from '../../store/alert-store.js';
import type { Sluice } from '../../runtime.js';

const tags = ['alerts'];
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Channel specs hold secrets (SMTP password, webhook headers); the API never returns them. */
function channelView(spec: ChannelSpec, origin: string, status: ChannelStatus | undefined) {
  const redacted =
    spec.type === 'email'
      ? { ...spec, smtp: { ...spec.smtp, pass: spec.smtp.pass === undefined ? undefined : '***' } }
      : { ...spec, headers: Object.fromEntries(Object.keys(spec.headers).map((k) => [k, '***'])) };
  return {
    ...redacted,
    origin,
    status: {
      sent: status?.sent ?? 0,
      failed: status?.failed ?? 0,
      last_ok_at: iso(status?.lastOkAt ?? null),
      last_error_at: iso(status?.lastErrorAt ?? null),
      last_error: status?.lastError ?? null,
      healthy: !status || status.lastErrorAt === null || (status.lastOkAt ?? 0) > status.lastErrorAt,
    },
  };
}

export function alertRuleRoutes(app: FastifyInstance, sluice: Sluice): void {
  const alerting = sluice.alerting;

  app.get(
    '/v1/alert-rules',
    {
      config: { access: 'reader' },
      schema: { tags, summary: 'Alert rules, from the config file and the API' },
    },
    async () => ({ rules: alerting.rules().map(({ spec, origin }) => ({ ...spec, origin })) }),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/alert-rules/:id',
    { config: { access: 'reader' }, schema: { tags, summary: 'One alert rule' } },
    async (req) => {
      const { spec, origin } = alerting.rule(req.params.id);
      return { ...spec, origin };
    },
  );

  app.post(
    '/v1/alert-rules',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Create an alert rule (threshold, invalid_ratio, deadman, anomaly); survives restarts',
        body: { type: 'object', description: 'A rule as in docs/alerts.md; `type` picks its kind' },
      },
    },
    async (req, reply) => {
      const spec = parseBody(ruleSpecSchema, req.body);
      await alerting.createRule(spec);
      return reply
        .code(201)
        .header('Location', `/v1/alert-rules/${spec.id}`)
        .send({ ...spec, origin: 'api' });
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/alert-rules/:id',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Delete an API-created rule; its open alerts resolve' },
    },
    async (req, reply) => {
      await alerting.deleteRule(req.params.id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/channels',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Notification channels with their delivery status' },
    },
    async () => ({
      channels: (await alerting.channels()).map((c) => channelView(c.spec, c.origin, c.status)),
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/channels/:id',
    { config: { access: 'admin' }, schema: { tags, summary: 'One channel with its delivery status' } },
    async (req) => {
      const c = await alerting.channel(req.params.id);
      return channelView(c.spec, c.origin, c.status);
    },
  );

  app.post(
    '/v1/channels',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Create a channel (webhook with a Slack-compatible payload, or SMTP email)',
        body: { type: 'object', description: 'A channel as in docs/alerts.md; `type` is webhook or email' },
      },
    },
    async (req, reply) => {
      const spec = parseBody(channelSpecSchema, req.body);
      await alerting.createChannel(spec);
      return reply
        .code(201)
        .header('Location', `/v1/channels/${spec.id}`)
        .send(channelView(spec, 'api', undefined));
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/channels/:id',
    { config: { access: 'admin' }, schema: { tags, summary: 'Delete an API-created channel' } },
    async (req, reply) => {
      await alerting.deleteChannel(req.params.id);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/channels/:id/test',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Send a test message to a channel and report the delivery' },
    },
    async (req) => {
      await alerting.channel(req.params.id);
      const [delivery] = await alerting.dispatcher.deliver(
        {
          kind: 'test',
          title: `Sluice test message for channel ${req.params.id}`,
          text: 'If you can read this, the channel works.',
          severity: 'info',
          state: null,
          fields: [],
          data: { channel: req.params.id },
        },
        [req.params.id],
      );
      return delivery;
    },
  );
}

import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import type { Sluice } from '../../runtime.js';

const tags = ['connectors'];
const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string' } },
} as const;

/** Pull connectors: list, create, inspect (health, calls, cost, latency), pause, resume, probe. */
export function connectorRoutes(app: FastifyInstance, sluice: Sluice): void {
  const host = sluice.connectors;

  app.get(
    '/v1/connectors',
    {
      config: { access: 'reader' },
      schema: { tags, summary: 'List connectors with their health and figures' },
    },
    async () => ({ connectors: host.list() }),
  );

  app.post<{ Body: Record<string, unknown> }>(
    '/v1/connectors',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary:
          'Create a connector (body as in sluice.yaml `connectors:`); credentials are stored encrypted',
        body: {
          type: 'object',
          required: ['id', 'kind'],
          properties: { id: { type: 'string' }, kind: { type: 'string' } },
        },
      },
    },
    async (req, reply) => {
      const view = await host.create(req.body);
      return reply
        .code(201)
        .header('Location', `/v1/connectors/${req.body.id as string}`)
        .send(view);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/connectors/:id',
    {
      config: { access: 'reader' },
      schema: {
        tags,
        params: idParams,
        summary: 'Health (stoppages with cause), calls, cost, records, latency, schedule',
      },
    },
    async (req) => host.view(req.params.id),
  );

  for (const action of ['pause', 'resume'] as const)
    app.post<{ Params: { id: string } }>(
      `/v1/connectors/:id/${action}`,
      {
        config: { access: 'admin' },
        schema: {
          tags,
          params: idParams,
          summary:
            action === 'pause'
              ? 'Stop calling the provider (the cursor holds; catch-up follows resume)'
              : 'Call the provider again, also after a credentials stop',
        },
      },
      async (req) => (action === 'pause' ? host.pause(req.params.id) : host.resume(req.params.id)),
    );

  app.post<{ Params: { id: string } }>(
    '/v1/connectors/:id/probe',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        params: idParams,
        summary: 'One call to the provider now, to check URL and credentials',
      },
    },
    async (req) => host.probe(req.params.id),
  );

  app.put<{ Params: { id: string }; Body: unknown }>(
    '/v1/connectors/:id/credentials',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        params: idParams,
        summary: 'Replace the credentials (stored encrypted, never returned) and resume calls',
        body: {
          type: 'object',
          required: ['value'],
          additionalProperties: false,
          properties: { header: { type: 'string', minLength: 1 }, value: { type: 'string', minLength: 1 } },
        },
      },
    },
    async (req) => host.setCredentials(req.params.id, req.body),
  );

  app.get(
    '/v1/testing/faults',
    {
      config: { access: 'admin' },
      schema: { tags: ['testing'], summary: 'Simulated faults in force (testing aid)' },
    },
    async () => ({ series_store: faults().status() }),
  );

  app.post<{ Body: { series_store: { down: boolean } } }>(
    '/v1/testing/faults',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['testing'],
        summary: 'Switch a simulated SeriesStore outage on or off (needs testing.fault_injection)',
        body: {
          type: 'object',
          required: ['series_store'],
          additionalProperties: false,
          properties: {
            series_store: {
              type: 'object',
              required: ['down'],
              additionalProperties: false,
              properties: { down: { type: 'boolean' } },
            },
          },
        },
      },
    },
    async (req) => {
      const f = faults();
      f.setDown(req.body.series_store.down);
      sluice.log.warn({ down: req.body.series_store.down }, 'fault injection: SeriesStore outage switched');
      return { series_store: f.status() };
    },
  );

  function faults() {
    if (!sluice.faults)
      throw new SluiceError(
        'fault_injection_off',
        'Set testing.fault_injection: true in the config to use this',
      );
    return sluice.faults;
  }
}

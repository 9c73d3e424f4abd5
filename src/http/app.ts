import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Sluice } from '../runtime.js';
import { influencerAnalyticsFacade } from './facades/influencer-analytics.js';
import { seedFacades } from './facades/seed-facades.js';
import { registerAuth } from './plugins/auth.js';
import { registerHttpMetrics } from './plugins/http-metrics.js';
import { registerProblemHandlers } from './plugins/problem.js';
import { connectorRoutes } from './routes/connectors.js';
import { datasetRoutes } from './routes/datasets.js';
import { distinctRecordRoutes } from './routes/distinct-records.js';
import { healthRoutes } from './routes/health.js';
import { keyRoutes } from './routes/keys.js';
import { queryRoutes } from './routes/queries.js';
import { tusRoutes } from './routes/tus.js';
import { uploadRoutes } from './routes/uploads.js';
import { analyticsRoutes } from './routes/analytics.js';
import { requestAnalyticsFacade } from './facades/request-analytics.js';
import { alertRoutes } from './routes/alerts.js';
import { alertRuleRoutes } from './routes/alert-rules.js';
import { qualityRoutes } from './routes/quality.js';
import { requestAlertsFacade } from './facades/request-alerts.js';
import { recordRoutes } from './routes/records.js';
import { bulkQueryRoutes } from './routes/bulk-query.js';
import { influxWriteRoutes } from './routes/influx-write.js';
import { acceptRawBodies } from './write-body.js';

export interface AppOptions {
  sluice: Sluice;
  /** Log each request (off in tests and benchmarks). */
  logRequests?: boolean;
}

/** The HTTP API as a Fastify instance. Tests drive it with inject() or listen({ port: 0 }). */
export async function buildApp({ sluice, logRequests = false }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: sluice.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: !logRequests }),
    bodyLimit: sluice.config.server.json_body_limit,
    // Uploads can be long; time out idle sockets, not slow-but-moving bodies.
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 72_000,
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true },
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, useDefaults: true } },
  });

  // The API speaks JSON; only the upload routes below take other bodies.
  app.removeContentTypeParser('text/plain');
  registerProblemHandlers(app);
  registerAuth(app, sluice.auth, (p) => sluice.admission.checkRate(p));
  registerHttpMetrics(app, sluice.metrics);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Sluice API',
        version: 'v1',
        description:
          'Ingest, validate, store and query telemetry and event data. Errors are application/problem+json with a stable code (docs/api.md).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, () => app.swagger());

  healthRoutes(app, sluice);
  datasetRoutes(app, sluice);
  keyRoutes(app, sluice);
  queryRoutes(app, sluice);
  analyticsRoutes(app, sluice);
  requestAnalyticsFacade(app, sluice);
  alertRoutes(app, sluice);
  alertRuleRoutes(app, sluice);
  qualityRoutes(app, sluice);
  requestAlertsFacade(app, sluice);
  bulkQueryRoutes(app, sluice);
  connectorRoutes(app, sluice);
  influencerAnalyticsFacade(app, sluice);
  distinctRecordRoutes(app, sluice);

  // Upload routes take the body as an unread stream: no parser buffers it.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    await scope.register(multipart, { limits: { fileSize: Number.MAX_SAFE_INTEGER, files: 1, fields: 20 } });
    uploadRoutes(scope, sluice);
    tusRoutes(scope, sluice);
    seedFacades(scope, sluice);
  });

  // Write routes (records API, InfluxDB line protocol) take the body as bytes, up to writes.max_body_bytes.
  await app.register(async (scope) => {
    acceptRawBodies(scope, sluice.config.writes.max_body_bytes);
    recordRoutes(scope, sluice);
    await scope.register(async (influx) => influxWriteRoutes(influx, sluice, sluice.lineProtocol));
  });
  return app;
}

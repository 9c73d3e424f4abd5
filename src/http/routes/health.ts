import type { FastifyInstance } from 'fastify';
import type { Sluice } from '../../runtime.js';

export function healthRoutes(app: FastifyInstance, sluice: Sluice): void {
  const tags = ['health'];
  app.get('/healthz', { config: { access: 'public' }, schema: { tags, summary: 'Liveness' } }, async () => ({
    status: 'ok',
  }));
  app.get(
    '/readyz',
    { config: { access: 'public' }, schema: { tags, summary: 'Readiness: stores open and state rebuilt' } },
    async (_req, reply) => {
      if (!sluice.isReady) return reply.code(503).send({ status: 'starting' });
      const log = sluice.batchLog.stats();
      return { status: 'ready', backlog: log.backlogBatches, queued_uploads: sluice.queue.depth };
    },
  );
  app.get(
    '/metrics',
    { config: { access: 'public' }, schema: { tags, summary: 'Prometheus metrics' } },
    async (_req, reply) => {
      sluice.ingestMetrics.processingLag.set(sluice.batchLog.stats().lagMs / 1000);
      return reply.type(sluice.metrics.contentType).send(await sluice.metricsText());
    },
  );
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KeyedRecord } from '../../store/meta-store.js';
import type { Sluice } from '../../runtime.js';
import { receiveUpload } from '../routes/uploads.js';

/**
 * Thin routes that keep the paths and envelopes existing clients of the systems Sluice replaces use.
 * With `auth.open_facades` they need no key; uploads are then attributed to the `facade` client.
 */
export function seedFacades(app: FastifyInstance, sluice: Sluice): void {
  const access = sluice.config.auth.open_facades ? 'public' : 'writer';
  const tags = ['facades'];

  app.post(
    '/send-data',
    { config: { access }, schema: { tags, summary: 'Upload readings (CSV); answers 201 like the original' } },
    async (req, reply) => {
      if (!req.principal) req.principal = { id: 'facade', name: 'facade', role: 'writer', datasets: null };
      return receiveUpload(sluice, 'readings', req, reply);
    },
  );

  const promotions = () => sluice.registry.get('promotions').layout;
  const answer = (
    req: FastifyRequest<{ Params: { id: string } }>,
    reply: FastifyReply,
    r: KeyedRecord | undefined,
  ) => {
    if (!r) return reply.code(404).type('application/problem+json').send(notFound(req.params.id, req.url));
    const price = promotions().fields.findIndex((f) => f.name === 'price');
    return reply.send({ id: r.keys[0], price: r.fields[price] ?? null, expiration_date: r.timeText });
  };
  app.get<{ Params: { id: string } }>(
    '/promotions/:id',
    {
      config: { access: sluice.config.auth.open_facades ? 'public' : 'reader' },
      schema: { tags, summary: 'A promotion by id: {"id","price","expiration_date"} or 404' },
    },
    // Not async: the embedded store answers synchronously, and this route runs at lookup rates.
    (req, reply) => {
      const found = sluice.queries.findRecord(promotions(), [req.params.id]);
      if (found instanceof Promise) return found.then((r) => answer(req, reply, r));
      return answer(req, reply, found);
    },
  );
}

function notFound(id: string, instance: string) {
  return {
    type: 'urn:sluice:error:record_not_found',
    title: 'No record with that key',
    status: 404,
    code: 'record_not_found',
    detail: `No promotion with id ${id}`,
    instance,
  };
}

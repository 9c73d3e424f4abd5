import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DatasetLayout } from '../../core/dataset.js';
import { SluiceError } from '../../core/errors.js';
import type { KeyedRecord } from '../../store/meta-store.js';
import type { Sluice } from '../../runtime.js';
import { sendProblem } from '../plugins/problem.js';
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

  // The record's fields follow the layout; the facade answers with the one named price.
  const answer = (
    req: FastifyRequest<{ Params: { id: string } }>,
    reply: FastifyReply,
    layout: DatasetLayout,
    r: KeyedRecord | undefined,
  ) => {
    if (!r)
      return sendProblem(
        reply,
        req,
        new SluiceError('record_not_found', `No promotion with id ${req.params.id}`),
      );
    const price = r.fields[layout.fields.findIndex((f) => f.name === 'price')] ?? null;
    return reply.send({ id: r.keys[0], price, expiration_date: r.timeText });
  };
  app.get<{ Params: { id: string } }>(
    '/promotions/:id',
    {
      config: { access: sluice.config.auth.open_facades ? 'public' : 'reader' },
      schema: { tags, summary: 'A promotion by id: {"id","price","expiration_date"} or 404' },
    },
    // Not async: the embedded store answers synchronously, and this route runs at lookup rates.
    (req, reply) => {
      const { layout } = sluice.registry.get('promotions');
      const found = sluice.queries.findRecord(layout, [req.params.id]);
      if (found instanceof Promise) return found.then((r) => answer(req, reply, layout, r));
      return answer(req, reply, layout, found);
    },
  );
}

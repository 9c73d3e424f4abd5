import type { FastifyInstance } from 'fastify';
import type { RegisteredDataset } from '../../core/dataset-registry.js';
import { keepsPerKeyStats } from '../../query/stats-snapshot.js';
import type { Sluice } from '../../runtime.js';
import { requireDataset } from '../plugins/auth.js';

const tags = ['datasets'];
const nameParam = {
  type: 'object',
  properties: { name: { type: 'string' } },
  required: ['name'],
} as const;

export function datasetRoutes(app: FastifyInstance, sluice: Sluice): void {
  const view = (d: RegisteredDataset) => ({ ...d.layout.spec, origin: d.origin });

  app.get(
    '/v1/datasets',
    { config: { access: 'reader' }, schema: { tags, summary: 'List datasets' } },
    async (req) => ({
      datasets: sluice.registry
        .list()
        .filter((d) => req.principal?.datasets == null || req.principal.datasets.has(d.layout.spec.name))
        .map(view),
    }),
  );

  app.post(
    '/v1/datasets',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Create a dataset (body mirrors the YAML in docs/configuration.md)' },
    },
    async (req, reply) => {
      const d = await sluice.datasets.create(req.body);
      return reply.code(201).header('Location', `/v1/datasets/${d.layout.spec.name}`).send(view(d));
    },
  );

  app.get<{ Params: { name: string } }>(
    '/v1/datasets/:name',
    { config: { access: 'reader' }, schema: { tags, summary: 'Get a dataset', params: nameParam } },
    async (req) => {
      requireDataset(req, req.params.name, 'reader');
      const d = sluice.registry.get(req.params.name);
      return {
        ...view(d),
        // Distinct values per key column; replace-mode datasets keep whole-dataset statistics only.
        stats_keys: keepsPerKeyStats(d.layout)
          ? Object.fromEntries(
              d.layout.keys.map((k) => [k.name, sluice.snapshot.keyCount(d.layout.spec.name, k.name)]),
            )
          : null,
      };
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/v1/datasets/:name',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Delete an API-created dataset and its data', params: nameParam },
    },
    async (req, reply) => {
      await sluice.datasets.delete(req.params.name);
      return reply.code(204).send();
    },
  );
}

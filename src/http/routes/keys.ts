import type { FastifyInstance } from 'fastify';
import { newKeyRow, ROLES, type Role } from '../../auth/keys.js';
import { SluiceError } from '../../core/errors.js';
import type { ApiKeyRow } from '../../store/meta-store.js';
import type { Sluice } from '../../runtime.js';

const tags = ['access'];

function view(k: ApiKeyRow) {
  return {
    id: k.id,
    name: k.name,
    role: k.role,
    datasets: k.datasets,
    prefix: k.prefix,
    created_at: new Date(k.createdAt).toISOString(),
  };
}

export function keyRoutes(app: FastifyInstance, sluice: Sluice): void {
  app.get(
    '/v1/keys',
    { config: { access: 'admin' }, schema: { tags, summary: 'List API keys (never their secrets)' } },
    async () => ({
      keys: (await sluice.meta.listKeys()).map(view),
    }),
  );

  app.post<{ Body: { name: string; role: Role; datasets?: string[] } }>(
    '/v1/keys',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Create an API key; the secret is in this answer only',
        body: {
          type: 'object',
          required: ['name', 'role'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            role: { type: 'string', enum: [...ROLES] },
            datasets: { type: 'array', items: { type: 'string' }, minItems: 1 },
          },
        },
      },
    },
    async (req, reply) => {
      const { name, role, datasets } = req.body;
      for (const d of datasets ?? []) sluice.registry.get(d);
      const { row, secret } = newKeyRow(name, role, datasets ?? null);
      await sluice.meta.createKey(row);
      return reply
        .code(201)
        .header('Location', `/v1/keys/${row.id}`)
        .send({ ...view(row), key: secret });
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/keys/:id',
    { config: { access: 'admin' }, schema: { tags, summary: 'Revoke an API key' } },
    async (req, reply) => {
      if (req.params.id === req.principal?.id)
        throw new SluiceError('forbidden', 'A key cannot revoke itself; use another admin key');
      if (!(await sluice.meta.deleteKey(req.params.id)))
        throw new SluiceError('key_not_found', `Unknown API key '${req.params.id}'`);
      sluice.auth.invalidate();
      return reply.code(204).send();
    },
  );
}

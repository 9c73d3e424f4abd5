import type { FastifyInstance, FastifyRequest } from 'fastify';
import { bearerSecret, type Authenticator } from '../../auth/authenticator.js';
import { allows, type Principal, type Role } from '../../auth/keys.js';
import { SluiceError } from '../../core/errors.js';

/** What a route needs: no key (`public`), or a key with at least this role. */
export type RouteAccess = 'public' | Role;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/**
 * Every route declares `config.access`; a route that forgets it needs an admin key, so a mistake
 * fails closed.
 */
export function registerAuth(app: FastifyInstance, auth: Authenticator): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config.access ?? 'admin';
    if (access === 'public') return;
    const principal = await auth.authenticate(bearerSecret(request.headers.authorization));
    if (!allows(principal, access))
      throw new SluiceError('forbidden', `This call needs the ${access} role; the key has ${principal.role}`);
    request.principal = principal;
  });
}

/** The authenticated principal, checked against a dataset scope and a role. */
export function requireDataset(request: FastifyRequest, dataset: string, role: Role): Principal {
  const p = request.principal;
  if (!p) throw new SluiceError('unauthorized');
  if (!allows(p, role, dataset))
    throw new SluiceError(
      'forbidden',
      `The key may not ${role === 'reader' ? 'read' : 'write'} dataset '${dataset}'`,
    );
  return p;
}

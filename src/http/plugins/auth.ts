import type { FastifyInstance, FastifyRequest } from 'fastify';
import { headerSecret, type Authenticator } from '../../auth/authenticator.js';
import { allows, type Principal, type Role } from '../../auth/keys.js';
import { SluiceError } from '../../core/errors.js';

/** What a route needs: no key (`public`), or a key with at least this role. */
export type RouteAccess = 'public' | Role;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
    /**
     * Also take the key from the `p` query parameter (InfluxDB 1.x clients send `u` and `p`). Only on
     * routes that opt in: elsewhere `p` could be a key column filter.
     */
    queryKey?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/**
 * Every route declares `config.access`; a route that forgets it needs an admin key, so a mistake
 * fails closed. `limit` runs for every admitted key (the per-key request rate) and throws to refuse.
 */
export function registerAuth(
  app: FastifyInstance,
  auth: Authenticator,
  limit: (principal: Principal) => void = () => {},
): void {
  app.decorateRequest('principal', null);
  const admit = (request: FastifyRequest, access: Role, principal: Principal): void => {
    if (!allows(principal, access))
      throw new SluiceError('forbidden', `This call needs the ${access} role; the key has ${principal.role}`);
    limit(principal);
    request.principal = principal;
  };
  // Callback style, so a request whose key is cached costs no promise (lookups run at this rate).
  app.addHook('onRequest', (request, _reply, done) => {
    const access = request.routeOptions.config.access ?? defaultAccess(request.routeOptions.url);
    if (access === 'public') return done();
    const secret = requestSecret(request);
    try {
      const cached = auth.cached(secret);
      if (cached) {
        admit(request, access, cached);
        return done();
      }
    } catch (err) {
      return done(err as Error);
    }
    auth.authenticate(secret).then(
      (principal) => {
        try {
          admit(request, access, principal);
          done();
        } catch (err) {
          done(err as Error);
        }
      },
      (err: Error) => done(err),
    );
  });
}

/**
 * The key of a request: the Authorization header (`Bearer`, or InfluxDB's `Token` and `Basic` forms),
 * or on routes with `config.queryKey` the `p` query parameter.
 */
function requestSecret(request: FastifyRequest): string | undefined {
  const fromHeader = headerSecret(request.headers.authorization);
  if (fromHeader !== undefined || !request.routeOptions.config.queryKey) return fromHeader;
  const p = (request.query as Record<string, unknown> | undefined)?.['p'];
  return typeof p === 'string' && p.length > 0 ? p : undefined;
}

/** The API documentation UI (a plugin's routes) is public; any other route without `access` needs admin. */
function defaultAccess(url: string | undefined): RouteAccess {
  return url === '/docs' || url?.startsWith('/docs/') ? 'public' : 'admin';
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

import { SluiceError } from '../core/errors.js';
import type { MetaStore } from '../store/meta-store.js';
import { hashSecret, principalOf, type Principal } from './keys.js';

/**
 * Resolves a bearer secret to a principal. Hashing and the store read are cached for a short time,
 * so a hot endpoint pays one map lookup per request; a deleted key stops working within `ttlMs`.
 */
export class Authenticator {
  private readonly cache = new Map<string, { principal: Principal | null; until: number }>();

  constructor(
    private readonly meta: MetaStore,
    private readonly ttlMs = 5_000,
  ) {}

  async authenticate(secret: string | undefined): Promise<Principal> {
    const cached = this.cached(secret);
    if (cached) return cached;
    const now = Date.now();
    const row = await this.meta.getKeyByHash(hashSecret(secret!));
    const principal = row ? principalOf(row) : null;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(secret!, { principal, until: now + this.ttlMs });
    if (!principal) throw new SluiceError('unauthorized', 'The API key is not valid');
    return principal;
  }

  /**
   * The principal of a recently seen secret without touching the store or a promise (the hot path
   * of every request); undefined when the store must be asked. Throws for a missing or known-bad key.
   */
  cached(secret: string | undefined): Principal | undefined {
    if (!secret) throw new SluiceError('unauthorized', 'Send an API key as "Authorization: Bearer <key>"');
    const hit = this.cache.get(secret);
    if (!hit || hit.until <= Date.now()) return undefined;
    if (!hit.principal) throw new SluiceError('unauthorized', 'The API key is not valid');
    return hit.principal;
  }

  /** Forget cached lookups, e.g. after a key is deleted. */
  invalidate(): void {
    this.cache.clear();
  }
}

/** Extracts the secret from `Authorization: Bearer <key>`. */
export function bearerSecret(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/**
 * The secret of an Authorization header in any form InfluxDB clients send, with a Sluice API key as
 * the secret: `Bearer <key>`, `Token <key>`, or `Basic base64(user:key)` (the password; the user
 * name when the password is empty).
 */
export function headerSecret(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(Bearer|Token|Basic)\s+(\S+)\s*$/i.exec(header);
  if (!m) return undefined;
  if (m[1]!.toLowerCase() !== 'basic') return m[2];
  const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return decoded || undefined;
  return decoded.slice(colon + 1) || decoded.slice(0, colon) || undefined;
}

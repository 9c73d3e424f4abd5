import { createHash, randomBytes } from 'node:crypto';
import { newId } from '../core/ids.js';
import type { ApiKeyRow } from '../store/meta-store.js';

export type Role = ApiKeyRow['role'];
export const ROLES: readonly Role[] = ['admin', 'writer', 'reader'];

/** A new secret: `sk_` and 32 random bytes, base64url. Only its SHA-256 is stored. */
export function newSecret(): string {
  return `sk_${randomBytes(32).toString('base64url')}`;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function newKeyRow(
  name: string,
  role: Role,
  datasets: string[] | null,
  secret = newSecret(),
): { row: ApiKeyRow; secret: string } {
  return {
    secret,
    row: {
      id: newId('key'),
      name,
      role,
      datasets,
      hash: hashSecret(secret),
      prefix: secret.slice(0, 8),
      createdAt: Date.now(),
    },
  };
}

/** What a request may do, from the key that authenticated it. */
export interface Principal {
  /** Key id: the client identity in reports and metrics. */
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly datasets: ReadonlySet<string> | null;
}

export function principalOf(row: ApiKeyRow): Principal {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    datasets: row.datasets ? new Set(row.datasets) : null,
  };
}

const RANK: Record<Role, number> = { reader: 0, writer: 1, admin: 2 };

/** Whether the principal holds at least `role`, and may touch `dataset` when one is named. */
export function allows(p: Principal, role: Role, dataset?: string): boolean {
  if (RANK[p.role] < RANK[role]) return false;
  if (dataset !== undefined && p.datasets !== null && p.role !== 'admin') return p.datasets.has(dataset);
  return true;
}

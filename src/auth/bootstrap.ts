import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { MetaStore } from '../store/meta-store.js';
import { hashSecret, newKeyRow, newSecret } from './keys.js';

export const ADMIN_KEY_FILE = 'admin.key';

/**
 * Makes sure an admin key exists. With SLUICE_ADMIN_KEY the given secret is registered; otherwise
 * the secret in `<data dir>/admin.key` is used, and on first start one is generated there (mode 0600)
 * and printed once.
 */
export async function bootstrapAdminKey(
  meta: MetaStore,
  dataDir: string,
  configured: string | undefined,
  log: Logger,
): Promise<{ source: 'env' | 'file' | 'generated'; file: string | null }> {
  if (configured) {
    await ensureRegistered(meta, configured, 'admin (SLUICE_ADMIN_KEY)');
    return { source: 'env', file: null };
  }
  const file = path.join(dataDir, ADMIN_KEY_FILE);
  if (fs.existsSync(file)) {
    await ensureRegistered(meta, fs.readFileSync(file, 'utf8').trim(), 'admin (admin.key)');
    return { source: 'file', file };
  }
  const secret = newSecret();
  fs.writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  await ensureRegistered(meta, secret, 'admin (admin.key)');
  log.warn({ file }, 'generated an admin key; it is shown once here and kept in the file');
  process.stdout.write(`\nSluice admin key (saved to ${file}):\n\n  ${secret}\n\n`);
  return { source: 'generated', file };
}

async function ensureRegistered(meta: MetaStore, secret: string, name: string): Promise<void> {
  if (await meta.getKeyByHash(hashSecret(secret))) return;
  await meta.createKey(newKeyRow(name, 'admin', null, secret).row);
}

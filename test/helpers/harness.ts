import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig, validateConfig } from '../../src/config/load.js';
import type { SluiceConfig, SluiceConfigInput } from '../../src/config/schema.js';
import { buildApp } from '../../src/http/app.js';
import { createLogger } from '../../src/observability/logger.js';
import { Sluice, type SluiceOptions } from '../../src/runtime.js';

export const ADMIN = 'test-admin-key-0123456789';
export const auth = { authorization: `Bearer ${ADMIN}` };

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-test-'));
}

/** The shipped config, pointed at a fresh data dir; `patch` sections are validated, so defaults fill gaps. */
export function testConfig(dataDir: string, patch: Partial<SluiceConfigInput> = {}): SluiceConfig {
  const shipped = loadConfig({
    SLUICE_CONFIG: path.resolve(import.meta.dirname, '../../sluice.yaml'),
  }).config;
  return validateConfig(
    { ...structuredClone(shipped), data_dir: dataDir, admin_key: ADMIN, log_level: 'silent', ...patch },
    'test',
  );
}

export interface Harness {
  sluice: Sluice;
  app: FastifyInstance;
  dataDir: string;
  close(): Promise<void>;
}

export async function startHarness(
  opts: { dataDir?: string; config?: Partial<SluiceConfigInput>; sluice?: SluiceOptions } = {},
): Promise<Harness> {
  const dataDir = opts.dataDir ?? tempDir();
  const config = testConfig(dataDir, opts.config);
  const sluice = new Sluice(config, createLogger(config.log_level), opts.sluice);
  await sluice.start();
  const app = await buildApp({ sluice });
  await app.ready();
  return {
    sluice,
    app,
    dataDir,
    async close() {
      await app.close();
      await sluice.close();
    },
  };
}

/** Polls an upload until it reaches a final status. */
export async function waitForUpload(app: FastifyInstance, id: string, timeoutMs = 30_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await app.inject({ method: 'GET', url: `/v1/uploads/${id}`, headers: auth });
    const body = res.json();
    if (['done', 'failed', 'cancelled'].includes(body.status)) return body;
    if (Date.now() > until) throw new Error(`upload ${id} still ${body.status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function upload(
  app: FastifyInstance,
  dataset: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<any> {
  const res = await app.inject({
    method: 'POST',
    url: `/v1/datasets/${dataset}/uploads`,
    headers: { ...auth, 'content-type': 'text/csv', ...headers },
    payload: body,
  });
  if (res.statusCode !== 201) throw new Error(`upload answered ${res.statusCode}: ${res.body}`);
  return res.json();
}

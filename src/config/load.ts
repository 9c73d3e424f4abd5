import fs from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { SluiceError } from '../core/errors.js';
import { configSchema, type SluiceConfig, type SluiceConfigInput } from './schema.js';

/** Environment variables that override the file, and the config path each sets. */
const ENV_OVERRIDES: ReadonlyArray<[string, (raw: Record<string, unknown>, v: string) => void]> = [
  ['SLUICE_PORT', (r, v) => (section(r, 'server').port = Number(v))],
  ['SLUICE_HOST', (r, v) => (section(r, 'server').host = v)],
  ['SLUICE_DATA_DIR', (r, v) => (r.data_dir = v)],
  ['SLUICE_LOG_LEVEL', (r, v) => (r.log_level = v)],
  ['SLUICE_ADMIN_KEY', (r, v) => (r.admin_key = v)],
  ['SLUICE_DATABASE_URL', (r, v) => (r.database_url = v)],
  ['SLUICE_NATS_URL', (r, v) => (r.nats_url = v)],
  ['SLUICE_SECRET_KEY', (r, v) => (r.secret_key = v)],
];

function section(raw: Record<string, unknown>, name: string): Record<string, unknown> {
  const s = raw[name];
  if (s && typeof s === 'object' && !Array.isArray(s)) return s as Record<string, unknown>;
  const created: Record<string, unknown> = {};
  raw[name] = created;
  return created;
}

export interface LoadedConfig {
  config: Readonly<SluiceConfig>;
  /** The file read, or null when none was found and defaults apply. */
  file: string | null;
}

/**
 * Finds the config (`SLUICE_CONFIG`, else ./sluice.yaml), applies the environment, validates and
 * freezes it. Errors name the file, the path inside it and the reason.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): LoadedConfig {
  const explicit = env.SLUICE_CONFIG;
  const file = path.resolve(cwd, explicit ?? 'sluice.yaml');
  let raw: Record<string, unknown> = {};
  let found: string | null = null;
  if (fs.existsSync(file)) {
    raw = parseYamlFile(file);
    found = file;
  } else if (explicit) {
    throw new SluiceError('config_invalid', `${file}: config file not found (from SLUICE_CONFIG)`);
  }
  for (const [name, apply] of ENV_OVERRIDES) {
    const v = env[name];
    if (v !== undefined && v !== '') apply(raw, v);
  }
  const config = validateConfig(raw, found ?? '(defaults)');
  if (!path.isAbsolute(config.data_dir)) config.data_dir = path.resolve(cwd, config.data_dir);
  return { config: deepFreeze(config), file: found };
}

function parseYamlFile(file: string): Record<string, unknown> {
  const doc = parseDocument(fs.readFileSync(file, 'utf8'), { prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const where = e.linePos?.[0] ? `:${e.linePos[0].line}:${e.linePos[0].col}` : '';
    throw new SluiceError('config_invalid', `${file}${where}: ${e.message.split('\n')[0]}`);
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new SluiceError('config_invalid', `${file}: the top level must be a mapping`);
  return value as Record<string, unknown>;
}

/** Validates a raw config object; `source` names where it came from in error messages. */
export function validateConfig(
  raw: SluiceConfigInput | Record<string, unknown>,
  source: string,
): SluiceConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new SluiceError('config_invalid', formatIssues(source, parsed.error.issues));
  return parsed.data;
}

export function formatIssues(source: string, issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => `${source}: ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('\n');
}

/** Parses a request body with a schema; `validation_failed` with each issue's path otherwise. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const parsed = schema.safeParse(body);
  if (!parsed.success)
    throw new SluiceError('validation_failed', formatIssues('body', parsed.error.issues), {
      details: { issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  return parsed.data;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

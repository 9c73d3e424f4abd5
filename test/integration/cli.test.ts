import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newExpectation, readingsFile, type ReadingsFileExpectation } from '../../src/sim/readings-file.js';
import {
  killAllChildren,
  pollUntil,
  runCli,
  startServer,
  tempDataDir,
  type ServerProcess,
} from '../helpers/server-process.js';

/** The `sluice` command line against a real server process. */

const LONG = 90_000;

let work: string;
let server: ServerProcess;
let file: string;
let expected: ReadingsFileExpectation;

/** Env for CLI runs: nothing inherited that could pick a server or key for it. */
const cleanEnv = {
  SLUICE_URL: undefined,
  SLUICE_KEY: undefined,
  SLUICE_ADMIN_KEY: undefined,
  SLUICE_PORT: undefined,
  SLUICE_DATA_DIR: undefined,
};

beforeAll(async () => {
  work = tempDataDir();
  file = path.join(work, 'readings.csv');
  expected = newExpectation();
  const fd = fs.openSync(file, 'w');
  for (const c of readingsFile({ rows: 20_000, invalidShare: 0.02, seed: 99 }, expected)) fs.writeSync(fd, c);
  fs.closeSync(fd);
  server = await startServer({ dataDir: path.join(work, 'data') });
}, LONG);

afterAll(async () => {
  await killAllChildren();
  fs.rmSync(work, { recursive: true, force: true });
});

function cli(args: string[]) {
  return runCli(args, cleanEnv);
}

describe('sluice upload', () => {
  it(
    'uploads a file, prints the final report as JSON on stdout and progress on stderr',
    async () => {
      const res = await cli([
        'upload',
        file,
        '--dataset',
        'readings',
        '--url',
        server.url,
        '--key',
        server.adminKey!,
      ]);
      expect(res.code, res.stderr).toBe(0);
      // stdout is exactly one JSON document: nothing else may be mixed into it.
      const report = JSON.parse(res.stdout);
      expect(report.status).toBe('done');
      expect(report.dataset).toBe('readings');
      expect(report.filename).toBe('readings.csv');
      expect(report.rows).toEqual({
        total: expected.rows,
        valid: expected.valid,
        invalid: expected.invalid,
        duplicate: 0,
      });
      expect(report.rejects_by_reason).toEqual(expected.byReason);
      expect(res.stderr).toContain(`uploaded ${fs.statSync(file).size} bytes as ${report.id}`);

      const stats = await server.json('/v1/datasets/readings/stats');
      expect(stats.fields.value.count).toBe(expected.valid);
    },
    LONG,
  );

  it(
    'exits non-zero with the problem code on stderr for an unknown dataset',
    async () => {
      const res = await cli([
        'upload',
        file,
        '--dataset',
        'nope',
        '--url',
        server.url,
        '--key',
        server.adminKey!,
      ]);
      expect(res.code).not.toBe(0);
      expect(res.stderr).toMatch(/404/);
      expect(res.stderr).toContain('dataset_not_found');
      expect(res.stdout.trim()).toBe('');
    },
    LONG,
  );
});

describe('sluice keys create', () => {
  it(
    'prints a reader key limited to readings: it reads stats, and uploading is forbidden',
    async () => {
      const res = await cli([
        'keys',
        'create',
        '--role',
        'reader',
        '--dataset',
        'readings',
        '--url',
        server.url,
        '--key',
        server.adminKey!,
      ]);
      expect(res.code, res.stderr).toBe(0);
      const created = JSON.parse(res.stdout);
      expect(created).toMatchObject({ role: 'reader', datasets: ['readings'] });
      expect(typeof created.key).toBe('string');

      const stats = await server.fetch('/v1/datasets/readings/stats', { key: created.key });
      expect(stats.status).toBe(200);
      // The dataset scope holds: another dataset is off limits.
      expect((await server.fetch('/v1/datasets/promotions/stats', { key: created.key })).status).toBe(403);

      const direct = await server.fetch('/v1/datasets/readings/uploads', {
        key: created.key,
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: 'device_id,timestamp,value\nk-1,2025-01-01T00:00:00Z,1\n',
      });
      expect(direct.status).toBe(403);
      expect(((await direct.json()) as any).code).toBe('forbidden');

      const viaCli = await cli([
        'upload',
        file,
        '--dataset',
        'readings',
        '--url',
        server.url,
        '--key',
        created.key,
      ]);
      expect(viaCli.code).not.toBe(0);
      expect(viaCli.stderr).toContain('forbidden');
    },
    LONG,
  );

  it(
    'fails without a key, saying where to find one',
    async () => {
      const res = await runCli(['keys', 'create', '--role', 'reader', '--url', server.url], {
        ...cleanEnv,
        // A data dir with no admin.key in it.
        SLUICE_DATA_DIR: work,
      });
      expect(res.code).not.toBe(0);
      expect(res.stderr).toMatch(/No API key/);
    },
    LONG,
  );
});

describe('sluice serve without SLUICE_ADMIN_KEY', () => {
  it(
    'writes admin.key (0600) and prints it once; a restart keeps the same key',
    async () => {
      const dataDir = path.join(work, 'first-start');
      const first = await startServer({ dataDir, adminKey: null });
      const keyFile = path.join(dataDir, 'admin.key');
      const printed = await pollUntil(
        async () => /Sluice admin key[^\n]*:\s*\n\s*\n\s*(\S+)/.exec(first.proc.stdout.toString())?.[1],
        { timeoutMs: 10_000, what: 'the printed admin key', describe: first.output },
      );
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(keyFile, 'utf8').trim()).toBe(printed);
      expect((await first.fetch('/v1/keys', { key: printed })).status).toBe(200);
      expect((await first.fetch('/v1/keys', { key: 'not-the-key' })).status).toBe(401);

      // A graceful stop: SIGTERM ends the process with status 0.
      const exit = await Promise.race([
        first.kill('SIGTERM'),
        new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000)),
      ]);
      expect(exit, first.output()).toEqual({ code: 0, signal: null });

      const second = await startServer({ dataDir, adminKey: null });
      expect((await second.fetch('/v1/keys', { key: printed })).status).toBe(200);
      expect(fs.readFileSync(keyFile, 'utf8').trim()).toBe(printed);
      // Give any late output a moment to arrive before checking nothing was printed.
      await new Promise((r) => setTimeout(r, 300));
      expect(second.proc.stdout.toString()).not.toContain(printed);
      expect(second.proc.stdout.toString()).not.toMatch(/admin key/i);

      // The CLI finds the key in the data dir by itself.
      const res = await runCli(['keys', 'create', '--role', 'writer', '--url', second.url], {
        ...cleanEnv,
        SLUICE_DATA_DIR: dataDir,
      });
      expect(res.code, res.stderr).toBe(0);
      expect(JSON.parse(res.stdout).role).toBe('writer');
      await second.kill();
    },
    LONG,
  );
});

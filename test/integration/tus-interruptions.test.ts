import fs from 'node:fs';
import path from 'node:path';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newExpectation, readingsFile, type ReadingsFileExpectation } from '../../src/sim/readings-file.js';
import {
  PROCESS_ADMIN,
  killAllChildren,
  pollUntil,
  spawnCli,
  startServer,
  tempDataDir,
  waitForFinal,
  type ServerProcess,
} from '../helpers/server-process.js';

/**
 * A resumable upload interrupted twice, once by the client and once by `kill -9` of the server, with
 * a real server process: the unmodified tus-js-client and `sluice upload` both finish with exact counts.
 */

/** SLUICE_TUS_TEST_ROWS scales the file up (25M rows is about 1 GB) for a manual run. */
const ROWS = Number(process.env.SLUICE_TUS_TEST_ROWS ?? 400_000);
/** Waits scale with the file: a 1 GB run processes for minutes on a shared machine. */
const LONG = Math.max(120_000, ROWS / 50);
const TEST_TIMEOUT = 240_000;

let work: string;
let file: string;
let size: number;
let expected: ReadingsFileExpectation;

beforeAll(() => {
  work = tempDataDir();
  file = path.join(work, 'readings.csv');
  expected = newExpectation();
  const fd = fs.openSync(file, 'w');
  for (const chunk of readingsFile({ rows: ROWS, invalidShare: 0.01, seed: 99 }, expected))
    fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  size = fs.statSync(file).size;
});

afterAll(async () => {
  await killAllChildren();
  fs.rmSync(work, { recursive: true, force: true });
});

async function expectExact(server: ServerProcess, id: string): Promise<void> {
  const report = await waitForFinal(server, id, LONG);
  expect(report.status).toBe('done');
  expect(report.rows).toMatchObject({
    total: expected.rows,
    valid: expected.valid,
    invalid: expected.invalid,
  });
  expect(report.rejects_by_reason).toEqual(expected.byReason);
  expect(report.bytes.received).toBe(size);
}

/** Waits until the server holds at least `bytes` of the upload durably, and returns its id. */
async function receivedAtLeast(
  server: ServerProcess,
  bytes: number,
  describe: () => string,
): Promise<string> {
  return pollUntil(
    async () => {
      const list = await server.json('/v1/uploads?dataset=readings&limit=1');
      const u = list.uploads?.[0] ?? list.items?.[0] ?? list[0];
      return u && u.bytes.received >= bytes ? (u.id as string) : undefined;
    },
    { timeoutMs: LONG, intervalMs: 5, what: `${bytes} bytes received`, describe },
  );
}

describe('resumable uploads survive a client abort and a server kill -9', () => {
  it(
    'tus-js-client: abort, resume, server killed and restarted, resume; exact counts',
    async () => {
      const dir = tempDataDir();
      let server = await startServer({ dataDir: dir });
      const port = server.port;
      let killed = false;
      let aborted = false;
      let url: string | null = null;
      const run = (uploadUrl?: string) =>
        new Promise<void>((resolve, reject) => {
          const upload = new tus.Upload(fs.createReadStream(file), {
            endpoint: `${server.url}/v1/tus/`,
            uploadUrl,
            headers: { authorization: `Bearer ${PROCESS_ADMIN}` },
            metadata: { dataset: 'readings', filename: 'readings.csv' },
            chunkSize: 512 * 1024,
            retryDelays: [],
            onProgress: (sent) => {
              url = upload.url;
              if (!aborted && sent > size / 3) {
                aborted = true;
                void upload.abort().then(() => resolve());
              } else if (aborted && !killed && sent > (2 * size) / 3) {
                killed = true;
                server.proc.child.kill('SIGKILL');
              }
            },
            onSuccess: () => resolve(),
            onError: reject,
          });
          upload.start();
        });
      await run();
      expect(aborted).toBe(true);
      // Resumed from HEAD's offset; the server dies mid-way and the client sees an error.
      await expect(run(url!)).rejects.toThrow();
      expect(killed).toBe(true);
      await server.proc.exited;
      server = await startServer({ dataDir: dir, port });
      await run(url!);
      await expectExact(server, url!.split('/').pop()!);
      await server.kill();
    },
    TEST_TIMEOUT,
  );

  it(
    'sluice upload: killed client re-run with --resume, server kill -9 survived by itself; exact counts',
    async () => {
      const dir = tempDataDir();
      let server = await startServer({ dataDir: dir });
      const port = server.port;
      const env = {
        SLUICE_URL: server.url,
        SLUICE_KEY: PROCESS_ADMIN,
        SLUICE_UPLOAD_STATE: path.join(dir, 'client-state.json'),
      };
      const args = [
        'upload',
        file,
        '--dataset',
        'readings',
        '--tus-threshold',
        '0',
        '--chunk-size',
        '262144',
      ];
      const first = spawnCli(args, env);
      const describe = () => `${server.output()}\n--- cli ---\n${first.stderr.toString()}`;
      await receivedAtLeast(server, size / 4, describe);
      first.child.kill('SIGKILL');
      await first.exited;

      const second = spawnCli([...args, '--resume'], env);
      const id = await receivedAtLeast(
        server,
        size / 2,
        () => `${server.output()}\n${second.stderr.toString()}`,
      );
      await server.kill('SIGKILL');
      server = await startServer({ dataDir: dir, port });
      const exit = await second.exited;
      const out = second.stdout.toString();
      expect(exit.code, second.stderr.toString()).toBe(0);
      expect(second.stderr.toString()).toContain('resuming');
      expect(second.stderr.toString()).toMatch(/connection lost; retrying/);
      const report = JSON.parse(out) as { id: string; status: string };
      expect(report.id).toBe(id);
      expect(report.status).toBe('done');
      await expectExact(server, id);
      await server.kill();
    },
    TEST_TIMEOUT,
  );
});

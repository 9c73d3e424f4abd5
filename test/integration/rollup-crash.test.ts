import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SHIPPED_CONFIG,
  killAllChildren,
  pollUntil,
  startServer,
  tempDataDir,
  waitForFinal,
  type ServerProcess,
} from '../helpers/server-process.js';
import {
  dailyFigures,
  expectedTopK,
  figuresBy,
  requestRows,
  requestsCsv,
  type RequestRow,
} from '../helpers/requests-data.js';

/**
 * Rollups after `kill -9`: with a flush interval far longer than the test, every kill lands with
 * applied rows not yet in the stored rollups. After each restart, top-K and history must equal what
 * the raw rows say: the unflushed tail is rolled up once, nothing before it a second time.
 */
const DAY_MS = 86_400_000;
const START_MS = (Math.floor(Date.now() / DAY_MS) - 2) * DAY_MS;
const LONG = 120_000;

let work: string;
let dataDir: string;
let configPath: string;
const written: RequestRow[] = [];

beforeAll(() => {
  work = tempDataDir();
  dataDir = path.join(work, 'data');
  configPath = path.join(work, 'sluice.yaml');
  fs.writeFileSync(
    configPath,
    `${fs.readFileSync(SHIPPED_CONFIG, 'utf8')}\nrollups:\n  flush_interval: 1h\n  max_pending_rows: 100000000\n`,
  );
});

afterAll(async () => {
  await killAllChildren();
  fs.rmSync(work, { recursive: true, force: true });
});

function start(): Promise<ServerProcess> {
  return startServer({ dataDir, env: { SLUICE_CONFIG: configPath } });
}

async function send(server: ServerProcess, rows: RequestRow[]): Promise<string> {
  const res = await server.fetch('/v1/datasets/requests/uploads', {
    method: 'POST',
    headers: { 'content-type': 'text/csv' },
    body: requestsCsv(rows),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  for (const r of rows) written.push(r);
  return ((await res.json()) as { id: string }).id;
}

/** Recovery runs in the background after start: the figures must converge to the raw rows' values. */
async function expectRollupsMatchRows(server: ServerProcess): Promise<void> {
  const until = Date.now() + LONG;
  for (;;) {
    try {
      return await checkRollups(server);
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function checkRollups(server: ServerProcess): Promise<void> {
  const top = await server.json('/api/v1/requests/top-k?k=10&metric=frequency');
  expect(top.data).toEqual(
    expectedTopK(figuresBy(written), 'count', 10).map((w) => ({ request_id: w.key, metric_value: w.value })),
  );
  const first = new Date(START_MS).toISOString().slice(0, 10);
  const last = new Date(START_MS + 2 * DAY_MS).toISOString().slice(0, 10);
  const history = await server.json(`/api/v1/requests/history?start_date=${first}&end_date=${last}`);
  const want = dailyFigures(written);
  for (const d of history.data) {
    expect(d.total_requests, d.date).toBe(want.get(d.date)?.total ?? 0);
    if (d.total_requests > 0) expect(d.average_latency).toBeCloseTo(want.get(d.date)!.average, 9);
  }
  expect(history.data.reduce((n: number, d: any) => n + d.total_requests, 0)).toBe(written.length);
}

describe('rollups after kill -9', () => {
  it(
    'equal the raw rows after each restart: nothing lost, nothing counted twice',
    async () => {
      let server = await start();
      const a = await send(server, requestRows(20_000, START_MS + 1000, 2 * DAY_MS, 11));
      expect((await waitForFinal(server, a, LONG)).status).toBe('done');
      await server.kill('SIGKILL');

      server = await start();
      await expectRollupsMatchRows(server);
      // Cut while the upload is being applied, then let the restarted server finish it.
      const c = await send(server, requestRows(60_000, START_MS + 3, 2 * DAY_MS, 13));
      await pollUntil(
        async () => {
          const r = await server.json(`/v1/uploads/${c}`);
          return r.rows.total > 0 || r.status === 'done' ? r : undefined;
        },
        { timeoutMs: LONG, what: 'rows of the third upload to be applied', describe: server.output },
      );
      await server.kill('SIGKILL');

      server = await start();
      expect((await waitForFinal(server, c, LONG)).status).toBe('done');
      // The rows applied after the restart wait for a flush that never comes before this kill.
      await server.kill('SIGKILL');
      server = await start();
      await expectRollupsMatchRows(server);
      await server.kill('SIGKILL');
    },
    4 * LONG,
  );
});

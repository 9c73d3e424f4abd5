/**
 * Entity polling on one node: N entities (default 100,000) at a 60 s interval, for a few minutes of
 * real time, against `sluice sim mockstagram` in its own process, through a whole Sluice (BatchLog,
 * Applier, DuckDB). Reports the share of samples started within ±2 s of their slot, p50/p99/max jitter,
 * missed and late samples, rows stored, and this process's CPU.
 *
 * Anchor (same run, same simulator): a bare keep-alive undici loop fetching the same number of profiles
 * at the same concurrency; its CPU per request against the connector's CPU per sample.
 *
 * Run: npm run bench -- entity-poll [--entities 100_000] [--minutes 3] [--concurrency 64]
 */
import { Agent, request } from 'undici';
import { validateConfig } from '../src/config/load.js';
import { createLogger } from '../src/observability/logger.js';
import { Sluice } from '../src/runtime.js';
import { numberArg } from './lib/args.js';
import { spawnTsx } from './lib/child-process.js';
import { benchTempDir } from './lib/temp-dir.js';
import { loadConfig } from '../src/config/load.js';
import path from 'node:path';

const ENTITIES = numberArg('entities', 100_000);
const MINUTES = numberArg('minutes', 3);
const CONCURRENCY = numberArg('concurrency', 64);
const MIN = 60_000;

async function startSim(): Promise<{ url: string; stop(): Promise<void> }> {
  const sim = spawnTsx('src/cli/main.ts', ['sim', 'mockstagram', '--port', '0', '--count', String(ENTITIES)]);
  const until = Date.now() + 30_000;
  for (;;) {
    const m = /listening on (http:\/\/[^\s]+)/.exec(sim.output());
    if (m) return { url: m[1]!, stop: () => sim.stop() };
    if (Date.now() > until) throw new Error(`the simulator did not start: ${sim.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** CPU seconds of this process over `fn`. */
async function cpuOf<T>(fn: () => Promise<T>): Promise<{ value: T; cpuS: number; wallS: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const c = process.cpuUsage(c0);
  return { value, cpuS: (c.user + c.system) / 1e6, wallS: (performance.now() - t0) / 1000 };
}

async function bareLoop(url: string, n: number): Promise<void> {
  const agent = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 60_000 });
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        const id = 1_000_000 + (next++ % ENTITIES);
        const res = await request(`${url}/api/v1/influencers/${id}`, { dispatcher: agent });
        await res.body.json();
      }
    }),
  );
  await agent.close();
}

async function main(): Promise<void> {
  const sim = await startSim();
  const tmp = benchTempDir();
  const shipped = loadConfig({ SLUICE_CONFIG: path.resolve(import.meta.dirname, '../sluice.yaml') }).config;
  const config = validateConfig(
    {
      ...structuredClone(shipped),
      data_dir: tmp.dir,
      admin_key: 'bench-admin-key-0123456789',
      log_level: 'silent',
      connectors: [
        {
          id: 'influencers',
          kind: 'entity-poll',
          dataset: 'influencers',
          url: `${sim.url}/api/v1/influencers/{id}`,
          entities: { range: { from: 1_000_000, count: ENTITIES } },
          interval: '60s',
          concurrency: CONCURRENCY,
          id_column: 'influencer_id',
          time_column: 'timestamp',
          fields: { follower_count: 'followerCount', following_count: 'followingCount' },
        },
      ],
    },
    'bench',
  );
  const sluice = new Sluice(config, createLogger('silent'));
  await sluice.start();
  const run = await cpuOf(async () => {
    await new Promise((r) => setTimeout(r, MINUTES * MIN));
    await sluice.connectors.pause('influencers');
    return sluice.connectors.view('influencers');
  });
  // Stopping the connector writes the samples still gathered into a page.
  await sluice.connectors.close();
  await sluice.settle();
  const view = run.value as {
    stats: { samples: { ok: number; late: number; missed: number } };
    schedule: { jitter_ms: { count: number; p50: number; p99: number; within_late_after_share: number } };
  };
  const stored = await sluice.series.count(sluice.registry.get('influencers').layout);
  await sluice.close();
  const samples = view.stats.samples.ok + view.stats.samples.late + view.stats.samples.missed;
  const anchor = await cpuOf(() => bareLoop(sim.url, Math.min(samples, 200_000)));
  await sim.stop();
  tmp.remove();
  const cpuPerSampleUs = (run.cpuS / Math.max(1, samples)) * 1e6;
  const bareCpuPerRequestUs = (anchor.cpuS / Math.max(1, Math.min(samples, 200_000))) * 1e6;
  process.stdout.write(
    JSON.stringify({
      bench: 'entity-poll',
      entities: ENTITIES,
      interval_s: 60,
      minutes: MINUTES,
      concurrency: CONCURRENCY,
      samples,
      within_2s_share: view.schedule.jitter_ms.within_late_after_share,
      jitter_ms: view.schedule.jitter_ms,
      late: view.stats.samples.late,
      missed: view.stats.samples.missed,
      rows_stored: stored,
      cpu_share_of_one_core: Math.round((run.cpuS / run.wallS) * 1000) / 1000,
      cpu_us_per_sample: Math.round(cpuPerSampleUs),
      anchor_bare_cpu_us_per_request: Math.round(bareCpuPerRequestUs),
      cpu_ratio_to_bare: Math.round((cpuPerSampleUs / Math.max(1, bareCpuPerRequestUs)) * 100) / 100,
    }) + '\n',
  );
}

await main();

/**
 * Entity polling on one node: N entities (default 100,000) at a 60 s interval, for a few minutes of
 * real time, against `sluice sim mockstagram` in its own process, through a whole Sluice (BatchLog,
 * Applier, DuckDB). Reports the share of samples started within ±2 s of their slot, p50/p99/max jitter,
 * missed and late samples, rows stored, and this process's CPU.
 *
 * Anchor (same run, same simulator): a bare keep-alive undici loop fetching the same number of profiles
 * at the same concurrency; its CPU per request against the connector's CPU per sample.
 *
 * Also reported, to tell where late samples come from: the load average, this process's event-loop delay
 * and utilisation, its main thread's CPU apart from its other threads (DuckDB, BatchLog I/O), the
 * simulator process's CPU, and late samples per 10 s of the run.
 *
 * Run: npm run bench -- entity-poll [--entities 100_000] [--minutes 3] [--concurrency 64]
 *        [--profile <dir>]  (CPU profiles of the polling window and of the simulator)
 */
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { validateConfig } from '../src/config/load.js';
import { createLogger } from '../src/observability/logger.js';
import { Sluice } from '../src/runtime.js';
import { numberArg } from './lib/args.js';
import { spawnTsx } from './lib/child-process.js';
import { startCpuProfile } from './lib/inspector-profile.js';
import { procCpuMs } from './lib/proc-cpu.js';
import { benchTempDir } from './lib/temp-dir.js';
import { loadConfig } from '../src/config/load.js';
import path from 'node:path';

const ENTITIES = numberArg('entities', 100_000);
const MINUTES = numberArg('minutes', 3);
const CONCURRENCY = numberArg('concurrency', 64);
const MIN = 60_000;
const profileAt = process.argv.indexOf('--profile');
const PROFILE_DIR = profileAt > 0 ? path.resolve(process.argv[profileAt + 1] ?? 'profiles') : null;

async function startSim(): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const sim = spawnTsx(
    'src/cli/main.ts',
    ['sim', 'mockstagram', '--port', '0', '--count', String(ENTITIES)],
    {
      nodeArgs: PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [],
    },
  );
  const until = Date.now() + 30_000;
  for (;;) {
    const m = /listening on (http:\/\/[^\s]+)/.exec(sim.output());
    // A profiled simulator writes its profile on exit: give it time to finish instead of killing it.
    if (m) return { url: m[1]!, pid: sim.pid, stop: () => sim.stop(PROFILE_DIR ? 120_000 : undefined) };
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
  const load = { start: os.loadavg(), end: [0, 0, 0] };
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const elu = performance.eventLoopUtilization();
  const mainCpu0 = procCpuMs(process.pid, process.pid);
  const simCpu0 = procCpuMs(sim.pid);
  const lateTimeline: number[] = [];
  let lastLate = 0;
  const timeline = setInterval(() => {
    const late = (sluice.connectors.view('influencers') as unknown as SamplesView).stats.samples.late;
    lateTimeline.push(late - lastLate);
    lastLate = late;
  }, 10_000);
  const profile = PROFILE_DIR
    ? await startCpuProfile(path.join(PROFILE_DIR, 'entity-poll-run.cpuprofile'))
    : null;
  const run = await cpuOf(async () => {
    await new Promise((r) => setTimeout(r, MINUTES * MIN));
    await sluice.connectors.pause('influencers');
    return sluice.connectors.view('influencers');
  });
  await profile?.stop();
  clearInterval(timeline);
  loop.disable();
  load.end = os.loadavg();
  const mainCpu1 = procCpuMs(process.pid, process.pid);
  const simCpu1 = procCpuMs(sim.pid);
  const loopUtilization = performance.eventLoopUtilization(elu).utilization;
  // Stopping the connector writes the samples still gathered into a page.
  await sluice.connectors.close();
  await sluice.settle();
  const view = run.value as unknown as SamplesView & {
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
      // What the simulator serves flat out to one client on this machine: its headroom over 1,667/s.
      anchor_bare_requests_per_s: Math.round(Math.min(samples, 200_000) / anchor.wallS),
      cpu_ratio_to_bare: Math.round((cpuPerSampleUs / Math.max(1, bareCpuPerRequestUs)) * 100) / 100,
      main_thread_cpu_share:
        mainCpu0 === null || mainCpu1 === null ? null : round3((mainCpu1 - mainCpu0) / 1000 / run.wallS),
      sim_cpu_share:
        simCpu0 === null || simCpu1 === null ? null : round3((simCpu1 - simCpu0) / 1000 / run.wallS),
      event_loop: {
        delay_p50_ms: round3(loop.percentile(50) / 1e6),
        delay_p99_ms: round3(loop.percentile(99) / 1e6),
        delay_max_ms: round3(loop.max / 1e6),
        utilization: round3(loopUtilization),
      },
      late_per_10s: lateTimeline,
      load_average_1m: { start: round3(load.start[0]!), end: round3(load.end[0]!) },
      cores: os.availableParallelism(),
    }) + '\n',
  );
}

interface SamplesView {
  stats: { samples: { ok: number; late: number; missed: number } };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

await main();

import { systemClock } from '../connectors/clock.js';
import { MockstagramSim } from '../sim/mockstagram-sim.js';
import { TelematicsSim } from '../sim/telematics-sim.js';

/** Runs a simulator until SIGINT/SIGTERM, printing where it listens and, every minute, its counters. */
async function runUntilStopped(
  name: string,
  sim: { listen(port: number, host: string): Promise<string>; close(): Promise<void> },
  opts: { port: string; host: string },
  describe: (url: string) => string,
  stats: () => unknown,
): Promise<void> {
  const url = await sim.listen(Number(opts.port), opts.host);
  process.stdout.write(`${name} simulator listening on ${url}\n${describe(url)}\n`);
  const timer = setInterval(() => process.stdout.write(`${JSON.stringify(stats())}\n`), 60_000);
  const stop = async () => {
    clearInterval(timer);
    await sim.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

export interface TelematicsSimArgs {
  port: string;
  host: string;
  token: string;
  scale: string;
  callsPerMinute: string;
  maxPerCall: string;
  seed: string;
  quietDate?: string[];
}

/** `sluice sim telematics`: the rate-capped, per-call-priced packet API. */
export async function simTelematics(opts: TelematicsSimArgs): Promise<void> {
  const sim = new TelematicsSim({
    clock: systemClock,
    token: opts.token,
    scale: Number(opts.scale),
    callsPerMinute: Number(opts.callsPerMinute),
    maxPerCall: Number(opts.maxPerCall),
    seed: Number(opts.seed),
    quietDates: opts.quietDate ?? [],
  });
  await runUntilStopped(
    'telematics',
    sim,
    opts,
    (url) =>
      [
        `  packets: GET ${url}/v1/packets?since=<cursor>&limit=<n>  (authorization: Bearer ${opts.token})`,
        `  revoke the token: curl -X POST ${url}/control/revoke   restore: curl -X POST ${url}/control/restore`,
        `  counters: curl ${url}/control/stats`,
      ].join('\n'),
    () => {
      sim.advance();
      return sim.stats;
    },
  );
}

export interface MockstagramSimArgs {
  port: string;
  host: string;
  count: string;
  latencyMs: string;
  errorRate: string;
}

/** `sluice sim mockstagram`: the influencer profile API. */
export async function simMockstagram(opts: MockstagramSimArgs): Promise<void> {
  const sim = new MockstagramSim({
    clock: systemClock,
    count: Number(opts.count),
    latencyMs: Number(opts.latencyMs),
    errorRate: Number(opts.errorRate),
  });
  await runUntilStopped(
    'mockstagram',
    sim,
    opts,
    (url) =>
      [
        `  profiles: GET ${url}/api/v1/influencers/{id}  (ids 1000000 … ${1_000_000 + Number(opts.count) - 1})`,
        `  counters: curl ${url}/control/stats`,
      ].join('\n'),
    () => sim.stats,
  );
}

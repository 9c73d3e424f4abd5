import fs from 'node:fs';
import path from 'node:path';
import { builtCli } from './built-server.js';
import { REPO_ROOT, spawnNode, waitHttpOk, type RunningChild } from './child-process.js';
import { freePort } from './free-port.js';
import { RssSampler } from './rss.js';

export const BENCH_ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

export interface SluiceServer {
  url: string;
  pid: number;
  auth: { authorization: string };
  proc: RunningChild;
  /** Stops the server and returns its peak RSS in MiB. */
  stop(): Promise<number>;
}

function envNodeArgs(): string[] {
  return (process.env['SLUICE_BENCH_NODE_ARGS'] ?? '').split(' ').filter((a) => a.length > 0);
}

/**
 * Starts the built `sluice serve` (`dist/cli/main.js`) as its own process on a free port, with the
 * shipped config and a given data dir, and waits for `/readyz`. `nodeArgs` go before the script (e.g.
 * `--cpu-prof`), after any in `SLUICE_BENCH_NODE_ARGS` (space-separated), which profiles or tunes the
 * server of any benchmark without changing it. `SLUICE_BENCH_CONFIG` (YAML sections, e.g.
 * `storage: {duckdb_threads: 1}`) is appended to the config the same way, to compare settings; it
 * must not repeat a section the benchmark sets itself.
 */
export async function startSluice(opts: {
  dataDir: string;
  nodeArgs?: readonly string[];
  /** Top-level YAML sections appended to the shipped config (written beside the data dir). */
  extraConfig?: string;
}): Promise<SluiceServer> {
  const port = await freePort();
  let config = path.join(REPO_ROOT, 'sluice.yaml');
  const extra = [opts.extraConfig, process.env['SLUICE_BENCH_CONFIG']].filter(
    (c) => c !== undefined && c !== '',
  );
  if (extra.length > 0) {
    const patched = path.join(path.dirname(opts.dataDir), 'sluice.bench.yaml');
    fs.writeFileSync(patched, `${fs.readFileSync(config, 'utf8')}\n${extra.join('\n')}\n`);
    config = patched;
  }
  const proc = spawnNode(builtCli(), ['serve'], {
    nodeArgs: [...envNodeArgs(), ...(opts.nodeArgs ?? [])],
    env: {
      SLUICE_DATA_DIR: opts.dataDir,
      SLUICE_PORT: String(port),
      SLUICE_HOST: '127.0.0.1',
      SLUICE_ADMIN_KEY: BENCH_ADMIN_KEY,
      SLUICE_LOG_LEVEL: 'warn',
      SLUICE_CONFIG: config,
    },
  });
  // SLUICE_BENCH_SERVER_OUT=<file> keeps all the server wrote (for `--trace-gc` and the like).
  const out = process.env.SLUICE_BENCH_SERVER_OUT;
  if (out) {
    const sink = fs.createWriteStream(out);
    proc.child.stdout!.pipe(sink);
    proc.child.stderr!.pipe(sink);
  }
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHttpOk(`${url}/readyz`, proc);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  const rss = new RssSampler(proc.pid);
  return {
    url,
    pid: proc.pid,
    auth: { authorization: `Bearer ${BENCH_ADMIN_KEY}` },
    proc,
    async stop() {
      const peak = rss.stop();
      // A profiled server writes its profile on exit: give it time to finish instead of killing it.
      const profiled = opts.nodeArgs?.some((a) => a.startsWith('--cpu-prof')) ?? false;
      await proc.stop(profiled ? 300_000 : undefined);
      return peak;
    },
  };
}

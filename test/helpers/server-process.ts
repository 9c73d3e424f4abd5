import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Runs `sluice serve` as a real child process, so tests can cut it with SIGKILL and start it again
 * on the same data dir, and talk to it over real HTTP.
 */

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const SHIPPED_CONFIG = path.join(REPO_ROOT, 'sluice.yaml');
export const CLI_ENTRY = path.join(REPO_ROOT, 'src/cli/main.ts');
export const PROCESS_ADMIN = 'process-admin-key-0123456789';

/** Every child started by this module and not yet seen to exit. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function tempDataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
}

/** A port nobody listens on right now: bind port 0, read it, close. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Collects a child's output; the tail is what a failure message needs. */
export class OutputBuffer {
  private text = '';
  constructor(private readonly cap = 256 * 1024) {}
  push(chunk: Buffer): void {
    this.text += chunk.toString('utf8');
    if (this.text.length > this.cap) this.text = this.text.slice(-this.cap);
  }
  toString(): string {
    return this.text;
  }
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A spawned child with its output and a promise of its exit. */
export interface Spawned {
  child: ChildProcess;
  stdout: OutputBuffer;
  stderr: OutputBuffer;
  exited: Promise<ExitInfo>;
  hasExited(): boolean;
}

/** Spawns `node --import tsx src/cli/main.ts …args` from the repo root and tracks it for cleanup. */
export function spawnCli(args: string[], env: Record<string, string | undefined>): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const stdout = new OutputBuffer();
  const stderr = new OutputBuffer();
  child.stdout!.on('data', (c: Buffer) => stdout.push(c));
  child.stderr!.on('data', (c: Buffer) => stderr.push(c));
  let done = false;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      live.delete(child);
      resolve({ code, signal });
    });
    child.on('error', (err) => {
      stderr.push(Buffer.from(`spawn error: ${err.message}\n`));
      done = true;
      live.delete(child);
      resolve({ code: null, signal: null });
    });
  });
  return { child, stdout, stderr, exited, hasExited: () => done };
}

/** Runs the CLI to completion and returns its exit code and output. */
export async function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const s = spawnCli(args, env);
  const timer = setTimeout(() => s.child.kill('SIGKILL'), timeoutMs);
  const { code } = await s.exited;
  clearTimeout(timer);
  // 'exit' can fire before the pipes are drained.
  await Promise.all([once(s.child.stdout!), once(s.child.stderr!)]);
  return { code, stdout: s.stdout.toString(), stderr: s.stderr.toString() };
}

function once(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    if ((stream as { readableEnded?: boolean }).readableEnded) return resolve();
    stream.once('close', () => resolve());
    stream.once('end', () => resolve());
  });
}

export interface ServerOptions {
  dataDir?: string;
  /** The admin key to pass as SLUICE_ADMIN_KEY; `null` starts without one. */
  adminKey?: string | null;
  port?: number;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export interface ServerProcess {
  url: string;
  port: number;
  dataDir: string;
  /** The key requests use by default (SLUICE_ADMIN_KEY, or null when started without one). */
  adminKey: string | null;
  proc: Spawned;
  /** stdout and stderr so far, for failure messages. */
  output(): string;
  /** Sends `signal` and waits for the process to be gone. */
  kill(signal?: NodeJS.Signals): Promise<ExitInfo>;
  /** fetch with the admin key as bearer, relative to the server's URL. */
  fetch(pathname: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  /** GET a JSON document (throws with the body on a non-2xx). */
  json(pathname: string, key?: string | null): Promise<any>;
}

/** Starts `sluice serve` with the shipped config and waits until `/readyz` answers 200. */
export async function startServer(opts: ServerOptions = {}): Promise<ServerProcess> {
  const dataDir = opts.dataDir ?? tempDataDir();
  const port = opts.port ?? (await freePort());
  const adminKey = opts.adminKey === undefined ? PROCESS_ADMIN : opts.adminKey;
  const proc = spawnCli(['serve'], {
    SLUICE_CONFIG: SHIPPED_CONFIG,
    SLUICE_DATA_DIR: dataDir,
    SLUICE_PORT: String(port),
    SLUICE_HOST: '127.0.0.1',
    SLUICE_LOG_LEVEL: 'warn',
    SLUICE_ADMIN_KEY: adminKey ?? undefined,
    ...opts.env,
  });
  const url = `http://127.0.0.1:${port}`;
  const output = () => `--- stdout ---\n${proc.stdout}\n--- stderr ---\n${proc.stderr}`;
  const server: ServerProcess = {
    url,
    port,
    dataDir,
    adminKey,
    proc,
    output,
    async kill(signal = 'SIGKILL') {
      if (!proc.hasExited()) proc.child.kill(signal);
      return proc.exited;
    },
    fetch(pathname, init = {}) {
      const { key = adminKey, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key) headers.set('authorization', `Bearer ${key}`);
      return fetch(`${url}${pathname}`, { ...rest, headers });
    },
    async json(pathname, key = adminKey) {
      const res = await server.fetch(pathname, { key });
      const text = await res.text();
      if (!res.ok) throw new Error(`GET ${pathname} answered ${res.status}: ${text}`);
      return JSON.parse(text);
    },
  };
  const until = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (proc.hasExited())
      throw new Error(
        `sluice serve exited before it was ready (${JSON.stringify(await proc.exited)})\n${output()}`,
      );
    try {
      const res = await fetch(`${url}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) return server;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > until) {
      await server.kill();
      throw new Error(`sluice serve was not ready within the timeout\n${output()}`);
    }
    await sleep(50);
  }
}

/** SIGKILLs every child this module started that is still running (afterAll). */
export async function killAllChildren(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const c of live) {
    waits.push(new Promise((resolve) => c.once('exit', resolve)));
    c.kill('SIGKILL');
  }
  await Promise.all(waits);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Thrown by a `pollUntil` probe to stop polling at once: waiting longer cannot help. */
export class GiveUp extends Error {}

/**
 * Calls `probe` until it returns something other than undefined, or fails after `timeoutMs` with
 * the last error seen and `describe()` (e.g. the server's output). Other errors (a server still
 * starting, a refused connection) are retried; `GiveUp` is not.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; what: string; describe?: () => string },
): Promise<T> {
  const until = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      if (err instanceof GiveUp) throw new Error(`${err.message}\n${opts.describe?.() ?? ''}`);
      lastError = err;
    }
    if (Date.now() > until)
      throw new Error(
        `timed out waiting for ${opts.what}${lastError ? ` (last error: ${String(lastError)})` : ''}\n${opts.describe?.() ?? ''}`,
      );
    await sleep(opts.intervalMs ?? 25);
  }
}

/** Polls an upload until it is done, failed or cancelled. */
export async function waitForFinal(server: ServerProcess, id: string, timeoutMs = 60_000): Promise<any> {
  return pollUntil(
    async () => {
      const r = await server.json(`/v1/uploads/${id}`);
      return ['done', 'failed', 'cancelled'].includes(r.status) ? r : undefined;
    },
    { timeoutMs, intervalMs: 100, what: `upload ${id} to finish`, describe: server.output },
  );
}

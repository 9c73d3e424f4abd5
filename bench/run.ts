/**
 * Runs one benchmark by name: `npm run bench -- ingest-csv --rows 1_000_000` runs
 * `bench/ingest-csv.ts --rows 1_000_000` in its own process and passes its exit code on.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const [name, ...rest] = process.argv.slice(2);
const available = fs
  .readdirSync(import.meta.dirname)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .sort();

if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <name> [options]\nbenchmarks: ${available.join(', ')}\n`);
  process.exit(2);
}

const child = spawn(
  process.execPath,
  ['--import', 'tsx', path.join(import.meta.dirname, `${name}.ts`), ...rest],
  {
    stdio: 'inherit',
  },
);
// Forward Ctrl-C so the bench can stop the server it started.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

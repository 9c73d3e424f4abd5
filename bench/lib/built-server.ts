import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './child-process.js';

/** The built CLI, as `npm start` runs it. */
const CLI = path.join(REPO_ROOT, 'dist/cli/main.js');

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * The path of `dist/cli/main.js`, built first when any file under `src/` is newer. Benchmarks measure
 * the server users run (compiled JavaScript), not the TypeScript loader the tests use, which costs
 * every thread its own transpiler and module map (about 70 MiB of RSS) and some CPU.
 */
export function builtCli(): string {
  const built = fs.existsSync(CLI) ? fs.statSync(CLI).mtimeMs : 0;
  if (built < newestMtimeMs(path.join(REPO_ROOT, 'src'))) {
    process.stderr.write('building dist/ for the benchmark server (npm run build)\n');
    // The same build `npm start` runs first.
    execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 2, 2] });
  }
  return CLI;
}

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made = new Set<string>();
// A bench that throws or is stopped (Ctrl-C) must not leave its generated files behind: some are
// gigabytes (replace-swap's default snapshots are 100M rows).
process.once('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

/** A fresh temp dir; `remove()` deletes it with everything generated inside (so does the bench's exit). */
export function benchTempDir(): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-'));
  made.add(dir);
  return {
    dir,
    remove: () => {
      fs.rmSync(dir, { recursive: true, force: true });
      made.delete(dir);
    },
  };
}

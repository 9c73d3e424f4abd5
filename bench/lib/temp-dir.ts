import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh temp dir; `remove()` deletes it with everything generated inside. */
export function benchTempDir(): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-'));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

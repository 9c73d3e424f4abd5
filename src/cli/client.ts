import fs from 'node:fs';
import path from 'node:path';

/** Where the CLI finds the server and its key: flags, then SLUICE_URL / SLUICE_KEY, then the data dir. */
export function clientOptions(opts: { url?: string; key?: string }): { url: string; key: string } {
  const url = (
    opts.url ??
    process.env.SLUICE_URL ??
    `http://127.0.0.1:${process.env.SLUICE_PORT ?? 8080}`
  ).replace(/\/$/, '');
  let key = opts.key ?? process.env.SLUICE_KEY ?? process.env.SLUICE_ADMIN_KEY;
  if (!key) {
    const file = path.resolve(process.env.SLUICE_DATA_DIR ?? './data', 'admin.key');
    if (fs.existsSync(file)) key = fs.readFileSync(file, 'utf8').trim();
  }
  if (!key)
    throw new Error('No API key: pass --key, or set SLUICE_KEY (the admin key is in <data dir>/admin.key)');
  return { url, key };
}

export async function failOnProblem(res: Response): Promise<void> {
  if (res.ok) return;
  const text = await res.text();
  let detail = text;
  try {
    const p = JSON.parse(text) as { code?: string; detail?: string };
    detail = `${p.code ?? res.status}: ${p.detail ?? text}`;
  } catch {
    /* not JSON: show the text */
  }
  throw new Error(`HTTP ${res.status} ${detail}`);
}

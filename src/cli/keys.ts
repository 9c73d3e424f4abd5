import { clientOptions, failOnProblem } from './client.js';

/** `sluice keys create --role <role> [--dataset …]`: prints the new key once. */
export async function createKey(opts: {
  role: string;
  name?: string;
  dataset?: string[];
  url?: string;
  key?: string;
}): Promise<void> {
  const { url, key } = clientOptions(opts);
  const res = await fetch(`${url}/v1/keys`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      name: opts.name ?? `${opts.role} key`,
      role: opts.role,
      ...(opts.dataset?.length ? { datasets: opts.dataset } : {}),
    }),
  });
  await failOnProblem(res);
  process.stdout.write(`${JSON.stringify(await res.json(), null, 2)}\n`);
}

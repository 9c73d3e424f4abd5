import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local webhook endpoint on port 0 that records JSON bodies; `failNext` makes it answer 500. */
export interface WebhookReceiver {
  url: string;
  bodies: any[];
  failNext(n: number): void;
  /** Resolves once `n` bodies have arrived (or rejects after `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<any[]>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const bodies: any[] = [];
  let failures = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (failures > 0) {
        failures--;
        res.writeHead(500).end('try again');
        return;
      }
      bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    bodies,
    failNext(n) {
      failures = n;
    },
    async waitFor(n, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (bodies.length < n) {
        if (Date.now() > until) throw new Error(`webhook got ${bodies.length} bodies, expected ${n}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return bodies;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

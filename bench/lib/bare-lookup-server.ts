/**
 * The lookup anchor: a bare Fastify server holding a promotions snapshot in a JS Map, serving
 * `GET /promotions/:id` with the same body and the same bearer-key check as Sluice's facade. It is the
 * ceiling for an HTTP point lookup on this machine: no storage engine, no versioning, no auth lookup.
 *
 * Run (by bench/lookup.ts): node --import tsx bench/lib/bare-lookup-server.ts <csv file> <port> <key>
 * Listens once the whole file is loaded; `GET /healthz` then answers 200.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import Fastify from 'fastify';

const [file, portText, key] = process.argv.slice(2);
if (!file || !portText || !key) throw new Error('usage: bare-lookup-server <csv> <port> <key>');

interface Promotion {
  price: number;
  expiration_date: string;
}

const records = new Map<string, Promotion>();
const lines = readline.createInterface({ input: fs.createReadStream(file, { highWaterMark: 1 << 20 }) });
for await (const line of lines) {
  const a = line.indexOf(',');
  const b = line.indexOf(',', a + 1);
  records.set(line.slice(0, a), { price: Number(line.slice(a + 1, b)), expiration_date: line.slice(b + 1) });
}

const expected = `Bearer ${key}`;
const app = Fastify({ logger: false });
app.get('/healthz', async () => ({ status: 'ok', records: records.size }));
app.get<{ Params: { id: string } }>('/promotions/:id', async (req, reply) => {
  if (req.headers.authorization !== expected) return reply.code(401).send({ code: 'unauthorized' });
  const r = records.get(req.params.id);
  if (!r) return reply.code(404).send({ code: 'record_not_found' });
  return { id: req.params.id, price: r.price, expiration_date: r.expiration_date };
});
await app.listen({ port: Number(portText), host: '127.0.0.1' });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));

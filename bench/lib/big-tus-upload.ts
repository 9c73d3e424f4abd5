/**
 * A large readings upload from a process of its own: generates `rows` rows while sending them with
 * tus (tusStream), prints `url <upload url>` once the upload exists and `done` at the end. Benchmarks
 * that time other requests meanwhile run it apart, so generating the file does not stall their clock.
 *
 * Run: node --import tsx bench/lib/big-tus-upload.ts <server url> <api key> <rows> <seed>
 */
import { readingsFile } from '../../src/sim/readings-file.js';
import { tusStream } from './tus-stream.js';

const [url, key, rows, seed] = process.argv.slice(2);
if (url === undefined || key === undefined || rows === undefined || seed === undefined) {
  process.stderr.write('usage: big-tus-upload <server url> <api key> <rows> <seed>\n');
  process.exit(2);
}
const count = Number(rows);
await tusStream({
  url,
  auth: { authorization: `Bearer ${key}` },
  dataset: 'readings',
  chunks: readingsFile({ rows: count, seed: Number(seed), startMs: Date.now() - count * 1000 }),
  onUrl: (u) => process.stdout.write(`url ${u}\n`),
});
process.stdout.write('done\n');

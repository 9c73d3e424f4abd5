import fs from 'node:fs';
import { once } from 'node:events';

/** Writes generated text chunks to a file, honouring backpressure so memory stays flat. */
export async function writeChunks(file: string, chunks: Iterable<string>): Promise<number> {
  const out = fs.createWriteStream(file, { highWaterMark: 1 << 20 });
  for (const chunk of chunks) {
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return fs.statSync(file).size;
}

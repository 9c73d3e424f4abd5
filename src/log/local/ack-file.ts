import fs from 'node:fs';
import path from 'node:path';
import { SluiceError } from '../../core/errors.js';
import { fsyncDir } from '../../core/file-io.js';
import { unavailable } from './log-errors.js';

/**
 * The consumer position, `consumer.json` in the log directory: the segment and the offset after the
 * last acknowledged record. It is replaced atomically (temp file, fsync, rename, directory fsync).
 */
export interface AckPosition {
  segment: number;
  offset: number;
}

const ACK_FILE = 'consumer.json';

/** Removes a temp file left by a write that a crash interrupted. */
export async function removeAckTemp(dir: string): Promise<void> {
  await fs.promises.rm(path.join(dir, `${ACK_FILE}.tmp`), { force: true });
}

export async function readAck(dir: string): Promise<AckPosition> {
  let text: string;
  try {
    text = await fs.promises.readFile(path.join(dir, ACK_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { segment: 0, offset: 0 };
    throw unavailable('cannot read the batch log consumer position', err);
  }
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // reported below
  }
  const { segment, offset } = (parsed ?? {}) as Partial<AckPosition>;
  if (typeof segment !== 'number' || typeof offset !== 'number' || !Number.isSafeInteger(segment + offset))
    throw new SluiceError('internal', `malformed ${ACK_FILE} in the batch log`);
  return { segment, offset };
}

export async function writeAck(dir: string, pos: AckPosition): Promise<void> {
  const tmp = path.join(dir, `${ACK_FILE}.tmp`);
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(pos));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, path.join(dir, ACK_FILE));
  await fsyncDir(dir);
}

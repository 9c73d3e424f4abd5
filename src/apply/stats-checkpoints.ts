import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncDir } from '../core/file-io.js';

/** Header of a checkpoint file: the apply sequence it covers (f64), then a CRC-32 of the payload. */
const HEADER = 12;

export interface StatsCheckpoint {
  /** Every row of batches with an apply sequence up to this one is in the statistics. */
  readonly seq: number;
  readonly bytes: Buffer;
}

/**
 * Statistics checkpoints on disk, one file per append-mode dataset under `<data dir>/stats/`. The
 * statistics then cover every row ever applied, also rows that raw retention has dropped since, and
 * a restart reads the checkpoint and only the rows applied after it. A file is replaced whole
 * (written aside, synced, renamed), so a crash leaves the old checkpoint or the new one.
 */
export class StatsCheckpoints {
  constructor(private readonly dir: string) {}

  private fileOf(dataset: string): string {
    return path.join(this.dir, `${dataset}.stats`);
  }

  /** The dataset's checkpoint, or undefined when there is none or it is damaged. */
  load(dataset: string): StatsCheckpoint | undefined {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.fileOf(dataset));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (buf.length < HEADER) return undefined;
    const bytes = buf.subarray(HEADER);
    if (crc32(bytes) !== buf.readUInt32LE(8)) return undefined;
    return { seq: buf.readDoubleLE(0), bytes };
  }

  /**
   * Replaces the dataset's checkpoint. The bytes (megabytes for a dataset with many keys) are written
   * off the event loop, like the fsyncs.
   */
  async save(dataset: string, seq: number, bytes: Uint8Array): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const header = Buffer.alloc(HEADER);
    header.writeDoubleLE(seq, 0);
    header.writeUInt32LE(crc32(bytes), 8);
    const file = this.fileOf(dataset);
    const tmp = `${file}.tmp`;
    const fh = await fs.promises.open(tmp, 'w');
    try {
      await writeAllAt(fh, header, 0);
      await writeAllAt(fh, bytes, HEADER);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
    await fsyncDir(this.dir);
  }

  remove(dataset: string): void {
    fs.rmSync(this.fileOf(dataset), { force: true });
  }
}

async function writeAllAt(fh: fs.promises.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, written, bytes.length - written, position + written);
    written += bytesWritten;
  }
}

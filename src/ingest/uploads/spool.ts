import fs from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SluiceError } from '../../core/errors.js';

/**
 * Upload bodies are streamed to files in `<data dir>/uploads` and fsynced before the client gets its
 * `201`. The file is the upload's durable source: decoding reads it from the committed offset, so a
 * restart resumes where the last durable batch ended.
 */
export class Spool {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'uploads');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  pathOf(uploadId: string): string {
    return path.join(this.dir, `${uploadId}.body`);
  }

  /**
   * Streams `body` into the upload's file (replacing any partial one), fsyncs it, and returns the
   * byte count. `maxBytes` of 0 means no limit.
   */
  async receive(
    uploadId: string,
    body: Readable,
    maxBytes: number,
    onBytes?: (n: number) => void,
  ): Promise<number> {
    const file = this.pathOf(uploadId);
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        if (maxBytes > 0 && bytes > maxBytes) {
          done(
            new SluiceError('payload_too_large', `The upload is larger than the limit of ${maxBytes} bytes`),
          );
          return;
        }
        onBytes?.(chunk.length);
        done(null, chunk);
      },
    });
    const out = fs.createWriteStream(file, { flags: 'w', highWaterMark: 1 << 20 });
    await pipeline(body, counter, out);
    // Off the event loop: syncing a whole body's pages can take a while.
    const handle = await fs.promises.open(file, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    return bytes;
  }

  /** The text of line 1 (a CSV header), read again when decoding resumes past it. */
  readFirstLine(uploadId: string, maxBytes: number): string {
    const fd = fs.openSync(this.pathOf(uploadId), 'r');
    try {
      const buf = Buffer.alloc(Math.min(maxBytes, 1 << 20));
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      const nl = buf.subarray(0, n).indexOf(10);
      return buf.toString('utf8', 0, nl < 0 ? n : nl).replace(/\r$/, '');
    } finally {
      fs.closeSync(fd);
    }
  }

  exists(uploadId: string): boolean {
    return fs.existsSync(this.pathOf(uploadId));
  }

  /**
   * Deletes the body file. Asynchronous: unlinking a file of gigabytes frees its extents, which can
   * take the event loop's thread for a tenth of a second.
   */
  remove(uploadId: string): Promise<void> {
    return fs.promises.rm(this.pathOf(uploadId), { force: true });
  }
}

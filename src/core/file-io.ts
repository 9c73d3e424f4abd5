/** File I/O on libuv's pool, for files that the event loop must not wait on. */
import fs from 'node:fs';

export function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    // Some platforms cannot fsync a directory; the rename is then as durable as they allow.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM') throw err;
  } finally {
    await fh.close();
  }
}

/**
 * Writes all of `bytes` at `position`, on libuv's pool: a write of a batch's hundreds of kilobytes can
 * block for milliseconds when the kernel throttles a writer behind dirty pages, and on the event loop
 * every request waits that long.
 */
export async function writeFully(fd: number, bytes: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const at = written;
    written += await new Promise<number>((resolve, reject) =>
      fs.write(fd, bytes, at, bytes.length - at, position + at, (err, n) => (err ? reject(err) : resolve(n))),
    );
  }
}

/** Fills `buf` from `position`, on libuv's pool; fewer bytes than it holds is a short read. */
export function readExactly(fd: number, buf: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) =>
    fs.read(fd, buf, 0, buf.length, position, (err, n) =>
      err
        ? reject(err)
        : n === buf.length
          ? resolve()
          : reject(new Error(`short read: ${n} of ${buf.length} bytes`)),
    ),
  );
}

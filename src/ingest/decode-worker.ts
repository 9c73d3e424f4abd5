import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { layoutOf } from '../core/dataset.js';
import { encodeBatch } from '../log/local/batch-codec.js';
import type { DecodeJob, FromDecoder, ToDecoder } from './decode-protocol.js';
import { UploadDecoder } from './upload-decoder.js';

/**
 * A decode thread: reads an upload's spooled file from its committed position, decodes and validates
 * it into batches, and sends each one encoded, its buffer transferred. It stays at most `window`
 * batches ahead of the main thread's acknowledgements, so memory is bounded however large the file.
 */
const READ_CHUNK = 1 << 20;
const port = parentPort!;

let credits = 0;
let stopped = false;
let wake: (() => void) | null = null;

port.on('message', (msg: ToDecoder) => {
  if (msg.type === 'start') {
    stopped = false;
    credits = msg.job.window;
    void run(msg.job);
  } else if (msg.type === 'credit') {
    credits++;
  } else {
    stopped = true;
  }
  wake?.();
});

function send(msg: FromDecoder, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

async function waitForCredit(): Promise<void> {
  while (credits <= 0 && !stopped) await new Promise<void>((resolve) => (wake = resolve));
  wake = null;
}

async function run(job: DecodeJob): Promise<void> {
  let fd: number | null = null;
  try {
    const { uploadId, path: _path, bytes: _bytes, spec, window: _window, ...options } = job;
    const decoder = new UploadDecoder({ ...options, layout: layoutOf(spec), source: uploadId });
    let nextSeq = job.startSeq;
    const ship = async (batches: ReturnType<UploadDecoder['push']>): Promise<void> => {
      for (const b of batches) {
        await waitForCredit();
        if (stopped) return;
        credits--;
        const payload = new Uint8Array(encodeBatch(b));
        send({ type: 'batch', seq: b.seq, end: b.end, payload }, [payload.buffer as ArrayBuffer]);
        nextSeq = b.seq + 1;
      }
    };
    if (job.bytes !== undefined) {
      await ship(decoder.push(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength)));
    } else {
      fd = fs.openSync(job.path, 'r');
      let pos = job.start.offset;
      const limit = job.limit ?? Infinity;
      for (;;) {
        if (stopped) return;
        const want = Math.min(READ_CHUNK, limit - pos);
        if (want <= 0) break;
        const buf = Buffer.allocUnsafe(want);
        const n = fs.readSync(fd, buf, 0, want, pos);
        if (n === 0) break;
        pos += n;
        await ship(decoder.push(n === want ? buf : buf.subarray(0, n)));
      }
    }
    // A body still arriving stops at its durable end: the rows after the last full batch are decoded
    // again, from the committed position, when more bytes are durable.
    if (job.final) await ship(decoder.end());
    if (!stopped) send({ type: 'end', nextSeq, finished: job.final });
  } catch (err) {
    send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

import type { Worker } from 'node:worker_threads';
import type { ColumnarBatch } from '../../core/batch.js';
import { SluiceError } from '../../core/errors.js';
import { startModuleWorker } from '../../core/module-worker.js';
import { BatchEncoder } from '../../log/local/batch-codec.js';
import type { RecordShape } from './record-columns.js';
import { isUnavailableCode } from './sqlite-errors.js';
import type { VersionFailure, VersionReply, VersionRequest } from './version-build-protocol.js';
import type { KeyedApplyResult } from './version-writer.js';

type Request = VersionRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

interface Waiter {
  resolve: (reply: Extract<VersionReply, { ok: true }>) => void;
  reject: (err: Error) => void;
}

/**
 * The main thread's side of the version-build thread (version-build-thread.ts). The thread is started
 * on first use and restarted after a failure. Batches cross encoded (BatchLog format) with their
 * buffer transferred: one copy of bytes instead of a structured clone of thousands of strings.
 *
 * The thread keeps the process alive only while a request is waiting for its answer.
 */
export class VersionBuildClient {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();
  private readonly encoder = new BatchEncoder();

  async begin(file: string, shape: RecordShape): Promise<void> {
    await this.request({ type: 'begin', file, shape });
  }

  /**
   * Sends the batch's encoding (the one it was read from the BatchLog with, else made here)
   * synchronously, so the request is queued behind every earlier one.
   */
  async apply(file: string, batch: ColumnarBatch): Promise<KeyedApplyResult> {
    const encoded = batch.encoded ?? this.encoder.encode(batch);
    // A fresh, exactly sized buffer: the encoding is shared (encoder scratch or the batch's own
    // columns), and a transfer detaches it.
    const payload = new Uint8Array(encoded.length);
    payload.set(encoded);
    const reply = await this.request({ type: 'apply', file, payload }, [payload.buffer]);
    if (reply.result === undefined)
      throw new SluiceError('internal', 'the version-build thread sent no outcome');
    return reply.result;
  }

  async seal(file: string): Promise<void> {
    await this.request({ type: 'seal', file });
  }

  async discard(file: string): Promise<void> {
    await this.request({ type: 'discard', file });
  }

  /** Closes every write connection and stops the thread. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    try {
      await this.request({ type: 'close' });
    } finally {
      this.worker = undefined;
      await worker.terminate();
    }
  }

  private request(msg: Request, transfer: ArrayBuffer[] = []): Promise<Extract<VersionReply, { ok: true }>> {
    const worker = this.worker ?? this.spawn();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      if (this.waiting.size === 1) worker.ref();
      worker.postMessage({ ...msg, id } as VersionRequest, transfer);
    });
  }

  private settle(id: number): Waiter | undefined {
    const waiter = this.waiting.get(id);
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.worker?.unref();
    return waiter;
  }

  private spawn(): Worker {
    const worker = createVersionBuildWorker();
    worker.unref();
    this.worker = worker;
    worker.on('message', (reply: VersionReply) => {
      const waiter = this.settle(reply.id);
      if (waiter === undefined) return;
      if (reply.ok) waiter.resolve(reply);
      else waiter.reject(toError(reply.error));
    });
    // The thread died (a bug, or out of memory): every request in flight fails, and the next one starts
    // a new thread. A build resumes from the batches its file recorded as applied.
    const lost = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const waiters = [...this.waiting.values()];
      this.waiting.clear();
      for (const w of waiters) w.reject(new SluiceError('internal', `the version-build thread ${why}`));
    };
    worker.on('error', (err) => lost(`failed: ${err.message}`));
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    return worker;
  }
}

function toError(f: VersionFailure): Error {
  if (f.code !== undefined) return new SluiceError(f.code, f.message);
  if (f.sqlite !== undefined && isUnavailableCode(f.sqlite))
    return new SluiceError('store_unavailable', `SQLite: ${f.message}`, { details: { code: f.sqlite } });
  if (f.sqlite !== undefined)
    return new SluiceError('internal', `SQLite: ${f.message}`, { details: { code: f.sqlite } });
  return new SluiceError('internal', `version build failed: ${f.message}`);
}

function createVersionBuildWorker(): Worker {
  return startModuleWorker(import.meta.url, 'version-build-thread');
}

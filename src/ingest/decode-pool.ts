import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../core/module-worker.js';
import { SluiceError } from '../core/errors.js';
import type { DecodeJob, FromDecoder, ToDecoder } from './decode-protocol.js';

export interface DecodeEnd {
  nextSeq: number;
  /** False when the job stopped at its `limit` with the body still incomplete. */
  finished: boolean;
}

/** What the caller does with each decoded batch, in order; the next is not sent until it resolves. */
export interface DecodeSink {
  batch(payload: Uint8Array, seq: number, end: DecodeJob['start']): Promise<void>;
}

/**
 * Decode threads, so that parsing and validating uploads runs beside the event loop that serves
 * queries and applies batches. One thread per concurrently processed upload; threads are reused.
 */
export class DecodePool {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();

  /**
   * Decodes one upload on a thread. Resolves with the next sequence number once every batch has been
   * handed to the sink, or null when `signal` stopped it early; rejects on a decode error.
   */
  async decode(job: DecodeJob, sink: DecodeSink, signal: AbortSignal): Promise<DecodeEnd | null> {
    const worker = this.idle.pop() ?? this.spawn();
    let reusable = false;
    try {
      const next = await runJob(worker, job, sink, signal);
      reusable = next !== null;
      return next;
    } finally {
      // A thread stopped mid-job may still have messages in flight: end it rather than reuse it.
      if (reusable) this.idle.push(worker);
      else void worker.terminate();
    }
  }

  async close(): Promise<void> {
    this.idle.length = 0;
    await Promise.all([...this.all].map((w) => w.terminate()));
    this.all.clear();
  }

  private spawn(): Worker {
    const worker = createDecodeWorker();
    worker.unref();
    this.all.add(worker);
    worker.on('exit', () => this.all.delete(worker));
    return worker;
  }
}

function runJob(
  worker: Worker,
  job: DecodeJob,
  sink: DecodeSink,
  signal: AbortSignal,
): Promise<DecodeEnd | null> {
  return new Promise((resolve, reject) => {
    // Batches are handled one after another, in arrival order.
    let chain = Promise.resolve();
    let failed = false;
    const post = (msg: ToDecoder) => worker.postMessage(msg);
    const finish = (fn: () => void) => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => {
      post({ type: 'stop' });
      void chain.then(() => finish(() => resolve(null)));
    };
    const onError = (err: Error) => finish(() => reject(err));
    const onMessage = (msg: FromDecoder) => {
      if (failed || signal.aborted) return;
      if (msg.type === 'batch') {
        chain = chain.then(async () => {
          if (failed || signal.aborted) return;
          try {
            await sink.batch(msg.payload, msg.seq, msg.end);
            post({ type: 'credit' });
          } catch (err) {
            failed = true;
            post({ type: 'stop' });
            finish(() => reject(err as Error));
          }
        });
      } else if (msg.type === 'end') {
        const end = { nextSeq: msg.nextSeq, finished: msg.finished };
        void chain.then(() => !failed && finish(() => resolve(end)));
      } else {
        failed = true;
        void chain.then(() =>
          finish(() => reject(new SluiceError('internal', `decoding failed: ${msg.message}`))),
        );
      }
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
    post({ type: 'start', job });
  });
}

/**
 * Built code runs the compiled worker; source run through tsx (development, tests) registers tsx in
 * the thread first so it can load TypeScript.
 */
function createDecodeWorker(): Worker {
  return startModuleWorker(import.meta.url, 'decode-worker');
}

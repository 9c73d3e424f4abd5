import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../../core/module-worker.js';

/** WAL pages past which the writer checkpoints by itself, should the checkpoint thread fall behind. */
export const BACKSTOP_WAL_PAGES = 16_384;

/** Runs meta.sqlite's WAL checkpoints on a thread of its own (see wal-checkpoint-thread.ts). */
export class WalCheckpointer {
  private readonly worker: Worker;

  constructor(file: string, intervalMs = 1000) {
    this.worker = startModuleWorker(import.meta.url, 'wal-checkpoint-thread', {
      workerData: { file, intervalMs },
    });
    this.worker.unref();
  }

  async stop(): Promise<void> {
    this.worker.postMessage('stop');
    await Promise.race([once(this.worker, 'message'), once(this.worker, 'exit')]);
    await this.worker.terminate();
  }
}

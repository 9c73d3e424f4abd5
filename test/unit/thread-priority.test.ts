import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  BACKGROUND_NICENESS,
  lowerOtherThreads,
  lowerThisThreadPriority,
} from '../../src/core/thread-priority.js';

describe('lowerThisThreadPriority', () => {
  it('never lowers the event loop itself', () => {
    const before = os.getPriority(process.pid);
    expect(lowerThisThreadPriority()).toBe(false);
    expect(os.getPriority(process.pid)).toBe(before);
  });

  it.runIf(process.platform === 'linux')('lowers a worker thread only, not the process', async () => {
    const before = os.getPriority(process.pid);
    const module = JSON.stringify(
      new URL(path.resolve(import.meta.dirname, '../../src/core/thread-priority.ts'), 'file:').href,
    );
    const worker = new Worker(
      `import('tsx/esm/api').then(async (tsx) => {
         tsx.register();
         const { lowerThisThreadPriority } = await import(${module});
         const { parentPort } = await import('node:worker_threads');
         const fs = await import('node:fs');
         const os = await import('node:os');
         const lowered = lowerThisThreadPriority();
         const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
         parentPort.postMessage({ lowered, niceness: os.getPriority(tid) });
       });`,
      { eval: true },
    );
    const seen = await new Promise<{ lowered: boolean; niceness: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    // A thread starts at its creator's niceness, and is never raised above it.
    expect(seen).toEqual({ lowered: true, niceness: Math.max(before, BACKGROUND_NICENESS) });
    expect(os.getPriority(process.pid)).toBe(before);
  });
});

describe('lowerOtherThreads', () => {
  it.runIf(process.platform === 'linux')(
    'lowers every thread of the process but the event loop, including ones it did not start',
    async () => {
      const before = os.getPriority(process.pid);
      // A worker that reports its thread id and stays alive until told to stop.
      const worker = new Worker(
        `const { parentPort } = require('node:worker_threads');
         const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
         parentPort.postMessage(tid);
         parentPort.on('message', () => process.exit(0));`,
        { eval: true },
      );
      const tid = await new Promise<number>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      try {
        const target = Math.max(before, BACKGROUND_NICENESS) + 1;
        expect(lowerOtherThreads(target)).toBeGreaterThan(0);
        expect(os.getPriority(tid)).toBe(target);
        expect(os.getPriority(process.pid)).toBe(before);
        // Already there: nothing more to do.
        expect(lowerOtherThreads(target)).toBe(0);
      } finally {
        await worker.terminate();
      }
    },
  );
});

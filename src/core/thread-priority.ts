import fs from 'node:fs';
import os from 'node:os';
import { isMainThread } from 'node:worker_threads';

/**
 * Niceness of background threads. Linux weighs CPU time by niceness: a thread at 10 gets about a
 * tenth of the share of one at 0, so when every core is busy the event loop (which answers queries)
 * runs first, and a busy background thread still gets every cycle the event loop does not want.
 */
export const BACKGROUND_NICENESS = 10;

/**
 * Lowers the scheduling priority of the calling worker thread only (on Linux a thread has its own
 * niceness, addressed by its thread id). Elsewhere, or when the thread id cannot be read, it does
 * nothing: a lower priority helps latency but nothing depends on it.
 */
export function lowerThisThreadPriority(niceness = BACKGROUND_NICENESS): boolean {
  // Never the event loop itself.
  if (isMainThread || process.platform !== 'linux') return false;
  try {
    // `/proc/thread-self` links to `<pid>/task/<tid>`.
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isSafeInteger(tid) || tid <= 0) return false;
    os.setPriority(tid, Math.max(os.getPriority(tid), niceness));
    return true;
  } catch {
    return false;
  }
}

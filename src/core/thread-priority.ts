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
    lowerThread(tid, niceness);
    return true;
  } catch {
    return false;
  }
}

/** Sets thread `tid` to `niceness` unless it is already as low; true when it was changed. */
function lowerThread(tid: number, niceness: number): boolean {
  if (os.getPriority(tid) >= niceness) return false;
  os.setPriority(tid, niceness);
  return true;
}

/** Whether the event loop can lower the other threads: Linux, a positive niceness, the main thread. */
function canLowerOthers(niceness: number): boolean {
  return isMainThread && process.platform === 'linux' && niceness > 0;
}

/**
 * Lowers every other thread of the process to `niceness`, from the event loop: worker threads,
 * DuckDB's threads, libuv's pool and V8's helpers. DuckDB starts its threads from a pool thread, so
 * they would not inherit a niceness set on the thread that opened the database; setting it from
 * outside, by thread id, reaches them. Returns how many threads were lowered.
 */
export function lowerOtherThreads(niceness = BACKGROUND_NICENESS): number {
  if (!canLowerOthers(niceness)) return 0;
  let lowered = 0;
  let tids: string[];
  try {
    tids = fs.readdirSync('/proc/self/task');
  } catch {
    return 0;
  }
  for (const name of tids) {
    const tid = Number(name);
    // The event loop's thread id is the process id.
    if (tid === process.pid || !Number.isSafeInteger(tid)) continue;
    try {
      if (lowerThread(tid, niceness)) lowered++;
    } catch {
      // The thread ended in between.
    }
  }
  return lowered;
}

/**
 * Keeps every thread but the event loop at `niceness`, checking every `everyMs` for threads started
 * since (a reopened database, a version build, a restarted decoder). Returns the stop function.
 */
export function keepOtherThreadsLow(niceness = BACKGROUND_NICENESS, everyMs = 2000): () => void {
  if (!canLowerOthers(niceness)) return () => undefined;
  lowerOtherThreads(niceness);
  const timer = setInterval(() => lowerOtherThreads(niceness), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

import v8 from 'node:v8';

/**
 * How far V8 lets a heap grow past what its last full collection kept, in percent (the heap's limit
 * becomes live size × (1 + percent / 100)); 0 leaves V8's own choice. The flag is process-wide, so it
 * also holds for worker threads started afterwards.
 *
 * Why: during an ingest the event loop keeps about 40 MiB live, and V8's own choice put its limit only
 * 24 MiB above that, and it began marking again as soon as one full collection ended: 26–28 full
 * collections in a 20 s ingest, each stopping the event loop for 4.5–15.6 ms, which is where the
 * slowest 1 % of statistics requests waited. At 150 % there were 6, and stats p99 went from 9.4–10.3 ms
 * to 7.1–8.4 ms, for a few tens of MiB more peak RSS (docs/performance.md).
 */
export function setHeapGrowingPercent(percent: number): void {
  if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}

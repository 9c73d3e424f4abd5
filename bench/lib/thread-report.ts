/**
 * Summarises a file written by `thread-probe.cjs`: CPU seconds of every OS thread (JavaScript threads
 * named by their script, the others grouped by the name the kernel shows), each JavaScript thread's V8
 * heap (resident, at the process's RSS peak and at its own peak), and the RSS split at the peak. Heap
 * allocation sites (`SLUICE_THREAD_PROBE_ALLOC=1`) are in the `.heapprofile` beside it, for DevTools.
 *
 * Run: npx tsx bench/lib/thread-report.ts <probe>.<pid>.jsonl
 */
import fs from 'node:fs';
import { round } from './latency.js';

interface ThreadRecord {
  kind: 'thread';
  thread: number;
  tid: number;
  script: string | null;
}
interface WorkerRecord {
  kind: 'worker';
  thread: number;
  script: string;
}
interface HeapRecord {
  kind: 'heap';
  t: number;
  thread: number;
  physical_mb: number;
  young_mb: number;
  malloced_mb: number;
  external_mb: number;
}
interface ProcessRecord {
  kind: 'process';
  t: number;
  rss_mb: number;
  anon_mb: number;
  file_mb: number;
  array_buffers_mb: number;
  cpu: Record<string, { name: string; ms: number; wait_ms: number }>;
}
type ProbeRecord = ThreadRecord | WorkerRecord | HeapRecord | ProcessRecord;

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: npx tsx bench/lib/thread-report.ts <probe>.<pid>.jsonl\n');
  process.exit(2);
}
const records = fs
  .readFileSync(file, 'utf8')
  .split('\n')
  .filter((l) => l.length > 0)
  .map((l) => JSON.parse(l) as ProbeRecord);

const scriptOf = new Map<number, string>();
const tidOf = new Map<number, number>();
for (const r of records) {
  if (r.kind === 'worker') scriptOf.set(r.thread, r.script);
  if (r.kind === 'thread') {
    tidOf.set(r.thread, r.tid);
    if (r.script !== null) scriptOf.set(r.thread, 'main');
  }
}
const nameOf = (thread: number): string => `${scriptOf.get(thread) ?? 'worker'}#${thread}`;

const procs = records.filter((r): r is ProcessRecord => r.kind === 'process');
const last = procs.at(-1);
if (last === undefined) throw new Error(`${file}: no process records`);
const peak = procs.reduce((a, b) => (b.rss_mb > a.rss_mb ? b : a));

// CPU: JavaScript threads by script; the rest by kernel thread name (DuckDB's, libuv's pool, V8's).
const jsTid = new Map([...tidOf].map(([thread, tid]) => [String(tid), nameOf(thread)]));
// A thread's CPU is its largest reading: threads that ended (workers, at exit) drop out of later ones.
const cpuMs = new Map<string, { name: string; ms: number; wait_ms: number }>();
for (const p of procs) {
  for (const [tid, c] of Object.entries(p.cpu)) if (c.ms >= (cpuMs.get(tid)?.ms ?? 0)) cpuMs.set(tid, c);
}
const cpuS: Record<string, number> = {};
const waitS: Record<string, number> = {};
for (const [tid, { name, ms, wait_ms }] of cpuMs) {
  const key = jsTid.get(tid) ?? `native:${name}`;
  cpuS[key] = round((cpuS[key] ?? 0) + ms / 1000, 1);
  waitS[key] = round((waitS[key] ?? 0) + wait_ms / 1000, 1);
}

// Heap of each JavaScript thread: its last sample at or before the RSS peak, and its own maximum.
const heaps = records.filter((r): r is HeapRecord => r.kind === 'heap');
const heapAtPeak: Record<string, object> = {};
let heapSumAtPeak = 0;
for (const thread of new Set(heaps.map((h) => h.thread))) {
  const own = heaps.filter((h) => h.thread === thread);
  const atPeak = own.filter((h) => h.t <= peak.t + 1000).at(-1) ?? own[0]!;
  heapSumAtPeak += atPeak.physical_mb + atPeak.malloced_mb;
  heapAtPeak[nameOf(thread)] = {
    physical_mb: round(atPeak.physical_mb, 1),
    young_mb: round(atPeak.young_mb, 1),
    malloced_mb: round(atPeak.malloced_mb, 1),
    external_mb: round(atPeak.external_mb, 1),
    max_physical_mb: round(Math.max(...own.map((h) => h.physical_mb)), 1),
  };
}

process.stdout.write(
  `${JSON.stringify(
    {
      seconds: round((last.t - procs[0]!.t) / 1000, 1),
      cpu_s: Object.fromEntries(Object.entries(cpuS).sort((a, b) => b[1] - a[1])),
      // Runnable but waiting for a core: on a busy machine, the delay a thread's work saw.
      waiting_for_cpu_s: waitS,
      peak_rss_mb: round(peak.rss_mb, 1),
      at_peak: {
        anon_mb: round(peak.anon_mb, 1),
        file_mb: round(peak.file_mb, 1),
        array_buffers_mb: round(peak.array_buffers_mb, 1),
        v8_heaps_mb: round(heapSumAtPeak, 1),
        anon_outside_v8_heaps_mb: round(peak.anon_mb - heapSumAtPeak - peak.array_buffers_mb, 1),
        heaps: heapAtPeak,
      },
    },
    null,
    2,
  )}\n`,
);

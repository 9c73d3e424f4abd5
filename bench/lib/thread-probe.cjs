/**
 * Per-thread CPU and memory of a Node process, for finding where an ingest's time and RSS go.
 * Preload it into the server of any benchmark:
 *
 *   SLUICE_THREAD_PROBE=/tmp/probe SLUICE_BENCH_NODE_ARGS="-r ./bench/lib/thread-probe.cjs" npm run bench -- …
 *
 * Every thread (the main one and each worker, which inherit the preload) appends one JSON line a second
 * to `<SLUICE_THREAD_PROBE>.<pid>.jsonl` with its V8 heap (resident size, used, young generation,
 * malloced and external memory), the OS thread id it runs on and the script it runs. The main thread also
 * writes the process's RSS split (anonymous and file-backed), and the CPU time of every OS thread and how
 * long it was runnable but waited for a core, so threads that run no JavaScript (DuckDB's, libuv's pool,
 * V8's helpers) are counted too. `SLUICE_THREAD_PROBE_ALLOC=1` adds the main thread's allocation sites
 * (`all`: every thread's).
 * `bench/lib/thread-report.ts` summarises the file. CommonJS, so `-r` loads it before any module.
 */
'use strict';
const fs = require('node:fs');
const v8 = require('node:v8');
const wt = require('node:worker_threads');

const base = process.env.SLUICE_THREAD_PROBE;
if (base) {
  const out = `${base}.${process.pid}.jsonl`;
  const write = (record) => fs.appendFileSync(out, `${JSON.stringify({ t: Date.now(), ...record })}\n`);
  const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  // A worker's script is logged by the main thread when it starts the worker (kind 'worker').
  write({ kind: 'thread', thread: wt.threadId, tid, script: wt.isMainThread ? process.argv[1] : null });

  if (wt.isMainThread) {
    const Original = wt.Worker;
    wt.Worker = class ProbedWorker extends Original {
      constructor(filename, options) {
        super(filename, options);
        const name = String(filename?.href ?? filename)
          .split('/')
          .pop();
        write({ kind: 'worker', thread: this.threadId, script: options?.eval ? 'eval' : name });
      }
    };
    require('node:module').syncBuiltinESMExports();
  }

  const heap = () => {
    const h = v8.getHeapStatistics();
    const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    write({
      kind: 'heap',
      thread: wt.threadId,
      physical_mb: h.total_physical_size / 2 ** 20,
      used_mb: h.used_heap_size / 2 ** 20,
      young_mb: (young?.space_size ?? 0) / 2 ** 20,
      malloced_mb: h.malloced_memory / 2 ** 20,
      external_mb: h.external_memory / 2 ** 20,
    });
  };

  const proc = () => {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const cpu = {};
    for (const task of fs.readdirSync('/proc/self/task')) {
      try {
        const stat = fs.readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // schedstat: ns on a CPU, ns runnable but waiting for one, time slices.
        const wait = Number(fs.readFileSync(`/proc/self/task/${task}/schedstat`, 'utf8').split(' ')[1]);
        // utime + stime, in clock ticks of 1/100 s (the same fields bench/lib/proc-cpu.ts reads: this
        // preload runs inside the server, so it cannot import that TypeScript module).
        cpu[task] = { name, ms: (Number(fields[11]) + Number(fields[12])) * 10, wait_ms: wait / 1e6 };
      } catch {
        // The thread ended between listing and reading.
      }
    }
    const mb = { rss_mb: kb('VmRSS') / 1024, anon_mb: kb('RssAnon') / 1024, file_mb: kb('RssFile') / 1024 };
    write({ kind: 'process', ...mb, cpu, array_buffers_mb: process.memoryUsage().arrayBuffers / 2 ** 20 });
  };

  // SLUICE_THREAD_PROBE_ALLOC=1: the main thread also samples where it allocates, counting objects the
  // collector has freed since (what drives its scavenges), into `<SLUICE_THREAD_PROBE>.<pid>.heapprofile`.
  // `all`: every JavaScript thread does, each into `….<pid>.<thread id>.heapprofile` (0 is the main one).
  const sampleAllocations = process.env.SLUICE_THREAD_PROBE_ALLOC;
  let allocations = null;
  if ((wt.isMainThread && sampleAllocations === '1') || sampleAllocations === 'all') {
    const { Session } = require('node:inspector');
    allocations = new Session();
    allocations.connect();
    allocations.post('HeapProfiler.startSampling', {
      samplingInterval: 32768,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
  const profileFile = `${base}.${process.pid}${sampleAllocations === 'all' ? `.${wt.threadId}` : ''}.heapprofile`;
  /** `stop`: the last write (the in-process session answers synchronously, so this works in an exit handler). */
  const writeAllocations = (stop) => {
    allocations?.post(stop ? 'HeapProfiler.stopSampling' : 'HeapProfiler.getSamplingProfile', (err, res) => {
      if (!err) fs.writeFileSync(profileFile, JSON.stringify(res.profile));
    });
    if (stop) allocations = null;
  };

  // A worker may be terminated without its exit handlers running, so its profile so far is written
  // every few seconds too.
  let ticks = 0;
  const tick = () => {
    heap();
    if (wt.isMainThread) proc();
    else if (++ticks % 3 === 0) writeAllocations(false);
  };
  setInterval(tick, 1000).unref();
  process.on('exit', () => {
    tick();
    writeAllocations(true);
  });
}

/**
 * DuckDB SeriesStore append: throughput, and how long the event loop is blocked while appending.
 *
 * Appends readings rows (device_id, time, value, content hash, line) in batches of 8192 (`--batch`),
 * each its own exactly-once transaction or, with `--group n`, n batches to a transaction as the Applier
 * hands them over, into a file database. While it runs:
 * - `perf_hooks.monitorEventLoopDelay` and a 1 ms `setInterval` drift monitor record how long the
 *   loop was blocked (the worst single synchronous step is what a concurrent query waits behind);
 * - a read probe runs `count` every few milliseconds on the read pool and records its latency.
 *
 * The anchor is DuckDB loading the same rows from a CSV file with `read_csv` in the same run, so the
 * ratio holds on a noisy machine.
 *
 * A second anchor is the loop delay of an idle event loop while DuckDB runs a CPU-heavy query on
 * its own threads: on a small machine those threads alone delay the loop by a few milliseconds,
 * so the append's figures are read against that floor.
 *
 * Run: npm run bench -- series-append [--rows 2_000_000] [--batch 8192] [--group 1] [--threads n] [--no-anchor] [--no-probe]
 */
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';
import type { ColumnarBatch } from '../src/core/batch.js';
import { DuckDbSeriesStore } from '../src/store/duckdb/duckdb-series-store.js';
import { flagArg, numberArg } from './lib/args.js';
import { duckdbReadCsv } from './lib/duckdb-anchor.js';
import { round, summarize } from './lib/latency.js';
import { procCpuMs } from './lib/proc-cpu.js';
import { benchTempDir } from './lib/temp-dir.js';
import { readingsLayout } from '../src/sim/readings-file.js';

const TOTAL = numberArg('rows', Number(process.env.ROWS ?? 2_000_000));
const BATCH = numberArg('batch', 8192);
const GROUP = numberArg('group', 1);
const PROBE_EVERY_MS = 5;
const THREADS = numberArg('threads', 0);
const T0_US = 1_700_000_000_000_000;

const layout = readingsLayout();

const DEVICES = Array.from({ length: 5000 }, (_, d) => `device-${String(d).padStart(5, '0')}`);

function makeBatch(seq: number, from: number, n: number): ColumnarBatch {
  const devices = new Array<string>(n);
  const timeUs = new Float64Array(n);
  const value = new Float64Array(n);
  const hashes = new Float64Array(n);
  const lines = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const i = from + j;
    devices[j] = DEVICES[(i * 31) % DEVICES.length]!;
    timeUs[j] = T0_US + i * 1000;
    value[j] = Math.round(Math.sin(i) * 10_000) / 100;
    hashes[j] = (i * 2_654_435_761) % 9_007_199_254_740_991;
    lines[j] = i + 2;
  }
  return {
    id: `bench:${seq}`,
    dataset: 'readings',
    source: 'bench',
    seq,
    length: n,
    keys: [devices],
    timeUs,
    fields: [value],
    payloads: [],
    attributes: [],
    timeText: null,
    hashes,
    lines,
    totalRows: n,
    rejects: [],
    end: { offset: (from + n) * 40, line: from + n + 1 },
  };
}

function writeCsv(file: string, batches: readonly ColumnarBatch[]): void {
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, 'device_id,time,value,_hash,_line\n');
  for (const b of batches) {
    const lines: string[] = [];
    for (let i = 0; i < b.length; i++) {
      const t = new Date(b.timeUs![i]! / 1000).toISOString().replace('T', ' ').replace('Z', '');
      lines.push(`${b.keys[0]![i]},${t},${b.fields[0]![i]},${b.hashes![i]},${b.lines[i]}`);
    }
    fs.writeSync(fd, lines.join('\n') + '\n');
  }
  fs.closeSync(fd);
}

/** Largest gap between consecutive ticks of a 1 ms interval, minus the interval itself. */
function driftMonitor(): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 1);
    last = now;
  }, 1);
  return {
    stop: () => {
      clearInterval(timer);
      return worst;
    },
  };
}

interface LoopDelay {
  p99Ms: number;
  maxMs: number;
  driftMaxMs: number;
  /** Share of wall time the event loop spent running JS and native calls, not waiting. */
  utilization: number;
}

/** Watches the event loop from now until `stop`. */
function loopMonitor(): { stop(): LoopDelay } {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const drift = driftMonitor();
  const elu = performance.eventLoopUtilization();
  return {
    stop: () => {
      const driftMaxMs = drift.stop();
      histogram.disable();
      return {
        p99Ms: histogram.percentile(99) / 1e6,
        maxMs: histogram.max / 1e6,
        driftMaxMs,
        utilization: performance.eventLoopUtilization(elu).utilization,
      };
    },
  };
}

/**
 * The loop delay this machine shows with no JS work at all while DuckDB keeps its threads busy with
 * a query: the floor that CPU contention alone sets, against which the append's delays are read.
 */
async function loopDelayAnchor(ms: number): Promise<LoopDelay> {
  const instance = await DuckDBInstance.create(':memory:', THREADS > 0 ? { threads: String(THREADS) } : {});
  const conn = await instance.connect();
  const monitor = loopMonitor();
  const end = performance.now() + ms;
  while (performance.now() < end) await conn.run('SELECT sum(i * i) FROM range(20000000) t(i)');
  const delay = monitor.stop();
  conn.closeSync();
  instance.closeSync();
  return delay;
}

/**
 * CPU time of the main thread alone, in ms; null off Linux. Unlike wall-clock figures it is not
 * inflated when other processes take the core.
 */
function mainThreadCpuMs(): number | null {
  return procCpuMs(process.pid, process.pid);
}

/** Runs `count` on the read pool every few milliseconds and records each call's latency. */
function readProbe(store: DuckDbSeriesStore): { stop(): Promise<number[]> } {
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      await store.count(layout);
      samples.push(performance.now() - t0);
      await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}

interface StoreRun {
  ms: number;
  mainThreadCpuMs: number | null;
  loop: LoopDelay;
  readLatencies: number[];
}

async function runStore(dir: string, batches: readonly ColumnarBatch[], probe: boolean): Promise<StoreRun> {
  const store = new DuckDbSeriesStore({
    path: path.join(dir, 'series.duckdb'),
    ...(THREADS > 0 ? { threads: THREADS } : {}),
  });
  await store.init();
  await store.ensureDataset(layout);
  const monitor = loopMonitor();
  const reads = probe ? readProbe(store) : undefined;
  const cpuStart = mainThreadCpuMs();
  const start = performance.now();
  for (let i = 0; i < batches.length; i += GROUP) {
    await store.appendMany(
      layout,
      batches.slice(i, i + GROUP).map((batch) => ({ batch })),
    );
  }
  const ms = performance.now() - start;
  const cpuEnd = mainThreadCpuMs();
  const loop = monitor.stop();
  const readLatencies = (await reads?.stop()) ?? [];
  const stored = await store.count(layout);
  await store.close();
  if (stored !== TOTAL) throw new Error(`stored ${stored} rows, expected ${TOTAL}`);
  const mainThreadCpu = cpuStart === null || cpuEnd === null ? null : cpuEnd - cpuStart;
  return { ms, mainThreadCpuMs: mainThreadCpu, loop, readLatencies };
}

async function main(): Promise<void> {
  const batches: ColumnarBatch[] = [];
  for (let from = 0, seq = 0; from < TOTAL; from += BATCH, seq++) {
    batches.push(makeBatch(seq, from, Math.min(BATCH, TOTAL - from)));
  }
  const tmp = benchTempDir();
  try {
    const run = await runStore(tmp.dir, batches, !flagArg('no-probe'));
    let anchorRowsPerS: number | null = null;
    if (!flagArg('no-anchor')) {
      const csv = path.join(tmp.dir, 'rows.csv');
      writeCsv(csv, batches);
      const anchor = await duckdbReadCsv(tmp.dir, csv, {
        device_id: 'VARCHAR',
        time: 'TIMESTAMP',
        value: 'DOUBLE',
        _hash: 'DOUBLE',
        _line: 'BIGINT',
      });
      if (anchor.rows !== TOTAL) throw new Error(`anchor loaded ${anchor.rows} rows`);
      anchorRowsPerS = Math.round((TOTAL / anchor.ms) * 1000);
    }
    const anchorLoop = await loopDelayAnchor(Math.min(run.ms, 3000));
    const rowsPerS = Math.round((TOTAL / run.ms) * 1000);
    const reads = summarize(run.readLatencies);
    console.log(
      JSON.stringify({
        bench: 'series-append',
        rows: TOTAL,
        rows_per_batch: BATCH,
        batches_per_transaction: GROUP,
        rows_per_s: rowsPerS,
        duckdb_threads: THREADS > 0 ? THREADS : 'default',
        loop_delay_p99_ms: round(run.loop.p99Ms),
        loop_delay_max_ms: round(run.loop.maxMs),
        interval_drift_max_ms: round(run.loop.driftMaxMs),
        loop_utilization: round(run.loop.utilization),
        main_thread_cpu_ms_per_batch:
          run.mainThreadCpuMs === null ? null : round(run.mainThreadCpuMs / Math.ceil(TOTAL / BATCH)),
        anchor_duckdb_busy_loop_delay: {
          p99_ms: round(anchorLoop.p99Ms),
          max_ms: round(anchorLoop.maxMs),
          interval_drift_max_ms: round(anchorLoop.driftMaxMs),
        },
        read_probe: { count: reads.count, p50_ms: reads.p50_ms, p99_ms: reads.p99_ms, max_ms: reads.max_ms },
        anchor_read_csv_rows_per_s: anchorRowsPerS,
        ratio: anchorRowsPerS === null ? null : Number((rowsPerS / anchorRowsPerS).toFixed(3)),
      }),
    );
  } finally {
    tmp.remove();
  }
}

await main();

/**
 * Quantile sketch benchmark: inserts per second and the largest rank error at p50/p95/p99 on 1M
 * values (uniform, normal, lognormal), for our merging t-digest and for the `tdigest` npm package
 * when it can be loaded (it is not a dependency of ours; it may be present through another
 * package). The anchor is an exact sort of the same values, measured in the same run. Also reports
 * the statistics snapshot's ingest rate, the scavenges its fold caused, and summary latency, and
 * how long sorting one full sketch buffer (2,048 values) takes with `sortDoubles` against V8's own
 * `Float64Array.prototype.sort` (the anchor).
 *
 * Run: node --import tsx bench/quantile-sketch.ts   (QS_BENCH_N overrides the number of values)
 * Prints one JSON line.
 */
import { createRequire } from 'node:module';
import v8 from 'node:v8';
import { bestAlternating } from './lib/alternating.js';
import { datasetSchema, layoutOf } from '../src/core/dataset.js';
import { sortDoubles } from '../src/core/sort-doubles.js';
import { QuantileSketch } from '../src/query/quantile-sketch.js';
import { StatsSnapshot } from '../src/query/stats-snapshot.js';
import { mulberry32 } from '../src/sim/random.js';

const N = Number(process.env.QS_BENCH_N ?? 1_000_000);
const QS = [0.5, 0.95, 0.99] as const;

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

const DISTRIBUTIONS: Record<string, (rand: () => number) => number> = {
  uniform: (r) => r(),
  normal: (r) => gaussian(r),
  lognormal: (r) => Math.exp(2 * gaussian(r)),
};

/** How far q is from the range of ranks the estimate occupies in the sorted data (0 when inside). */
function rankError(sorted: Float64Array, estimate: number, q: number): number {
  const lower = (v: number, strict: boolean): number => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (strict ? sorted[mid]! < v : sorted[mid]! <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const below = lower(estimate, true) / sorted.length;
  const upTo = lower(estimate, false) / sorted.length;
  return q < below ? below - q : q > upTo ? q - upTo : 0;
}

interface Sketcher {
  push(x: number): void;
  quantile(q: number): number;
}

type TDigestModule = { TDigest: new (delta?: number, K?: number, CX?: number) => TDigestLike };
interface TDigestLike {
  push(x: number): void;
  compress(): void;
  percentile(p: number): number;
}

function loadTdigest(): TDigestModule | null {
  try {
    return createRequire(import.meta.url)('tdigest') as TDigestModule;
  } catch {
    return null;
  }
}

function measure(make: () => Sketcher, data: Float64Array, sorted: Float64Array) {
  const sketch = make();
  const started = performance.now();
  for (let i = 0; i < data.length; i++) sketch.push(data[i]!);
  const estimates = QS.map((q) => sketch.quantile(q)); // includes the final merge
  const seconds = (performance.now() - started) / 1000;
  const errors = QS.map((q, i) => rankError(sorted, estimates[i]!, q));
  return {
    inserts_per_s: Math.round(data.length / seconds),
    max_rank_error: Number(Math.max(...errors).toFixed(6)),
    rank_error: Object.fromEntries(
      QS.map((q, i) => [`p${Math.round(q * 100)}`, Number(errors[i]!.toFixed(6))]),
    ),
  };
}

function snapshotFigures(distinctKeys: number) {
  const layout = layoutOf(
    datasetSchema.parse({
      name: 'bench',
      columns: [
        { name: 'device', role: 'key' },
        { name: 'ts', type: 'time', role: 'time' },
        { name: 'a', type: 'number', role: 'field' },
        { name: 'b', type: 'number', role: 'field' },
      ],
    }),
  );
  const rand = mulberry32(99);
  const rows = 4096;
  const keyNames = Array.from({ length: distinctKeys }, (_, i) => `device-${i}`);
  const batches = Array.from({ length: 8 }, () => ({
    length: rows,
    keys: [Array.from({ length: rows }, () => keyNames[Math.floor(rand() * keyNames.length)]!)],
    timeUs: Float64Array.from({ length: rows }, () => 1.7e15 + rand() * 1e12),
    fields: [
      Float64Array.from({ length: rows }, () => rand() * 100),
      Float64Array.from({ length: rows }, gaussianOf(rand)),
    ],
  }));
  const snap = new StatsSnapshot();
  const total = Math.ceil(N / rows);
  // Scavenges during the fold: it runs on the event loop, so what it allocates becomes pauses there.
  const gcs = new v8.GCProfiler();
  gcs.start();
  const started = performance.now();
  for (let i = 0; i < total; i++) snap.add(layout, batches[i % batches.length]!);
  const seconds = (performance.now() - started) / 1000;
  const scavenges = gcs.stop().statistics.filter((g) => g.gcType === 'Scavenge').length;
  const latencies = (call: () => unknown): number => {
    const times: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t = performance.now();
      call();
      times.push(performance.now() - t);
    }
    times.sort((x, y) => x - y);
    return Number(times[Math.floor(times.length * 0.99)]!.toFixed(3));
  };
  return {
    rows: total * rows,
    distinct_keys: distinctKeys,
    fields: 2,
    key_columns: 1,
    values_per_s: Math.round((total * rows * 2) / seconds),
    scavenges,
    summary_whole_p99_ms: latencies(() => snap.summary('bench')),
    summary_key_p99_ms: latencies(() =>
      snap.summary('bench', 'device', keyNames[Math.floor(rand() * distinctKeys)]),
    ),
  };
}

/** Microseconds per sort of a sketch-sized buffer of readings-like values (two decimals). */
function bufferSortFigures(): { values: number; sort_doubles_us: number; builtin_sort_us: number } {
  const rand = mulberry32(2048);
  const values = 2048;
  const source = Float64Array.from({ length: values }, () => Math.round(rand() * 10_000) / 100);
  const work = new Float64Array(values);
  const time = (sort: (a: Float64Array) => void): number => {
    const rounds = 2000;
    for (let r = 0; r < 200; r++) {
      work.set(source);
      sort(work);
    }
    const started = performance.now();
    for (let r = 0; r < rounds; r++) {
      work.set(source);
      sort(work);
    }
    return Number((((performance.now() - started) * 1000) / rounds).toFixed(1));
  };
  const best = bestAlternating({
    ours: () => time((a) => sortDoubles(a)),
    builtin: () => time((a) => a.sort()),
  });
  return { values, sort_doubles_us: best.ours, builtin_sort_us: best.builtin };
}

function gaussianOf(rand: () => number): () => number {
  return () => gaussian(rand);
}

const tdigest = loadTdigest();
const results: Record<string, unknown> = {};
for (const [name, gen] of Object.entries(DISTRIBUTIONS)) {
  const rand = mulberry32(name.length * 7919);
  const data = Float64Array.from({ length: N }, () => gen(rand));
  const sortStart = performance.now();
  const sorted = data.slice().sort();
  const sortSeconds = (performance.now() - sortStart) / 1000;
  const ours = measure(
    () => {
      const s = new QuantileSketch();
      return { push: (x) => s.add(x), quantile: (q) => s.quantile(q) };
    },
    data,
    sorted,
  );
  const theirs =
    tdigest === null
      ? null
      : measure(
          () => {
            // delta 1/200 matches our compression 200.
            const t = new tdigest.TDigest(1 / 200);
            return { push: (x) => t.push(x), quantile: (q) => t.percentile(q) };
          },
          data,
          sorted,
        );
  results[name] = { sluice: ours, tdigest_npm: theirs, exact_sort_values_per_s: Math.round(N / sortSeconds) };
}

console.log(
  JSON.stringify({
    bench: 'quantile-sketch',
    n: N,
    compression: 200,
    tdigest_npm_loaded: tdigest !== null,
    ...results,
    // Rows arrive in random key order, the worst case for the per-key accumulators' locality.
    snapshot: [snapshotFigures(100), snapshotFigures(10_000)],
    buffer_sort: bufferSortFigures(),
  }),
);

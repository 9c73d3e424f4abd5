import { parentPort, workerData } from 'node:worker_threads';
import { pino, type Level } from 'pino';
import { Registry } from 'prom-client';
import { layoutOf, type DatasetLayout, type DatasetSpec } from '../../core/dataset.js';
import { decodeBatch } from '../../log/local/batch-decoder.js';
import { DuckDbSeriesStore } from '../duckdb/duckdb-series-store.js';
import {
  toWireError,
  toWireGroups,
  toWireSeries,
  type FromSeriesThread,
  type ScanCall,
  type SeriesOp,
  type SeriesThreadData,
  type SeriesWireApi,
  type ToSeriesThread,
} from './series-wire.js';

/**
 * The series store thread: owns the DuckDB SeriesStore (appends, rollup upkeep, queries) so that its
 * JavaScript work, above all folding rows into rollups, runs beside the event loop that serves HTTP.
 * Calls are answered as they come; DuckDB runs each on its own threads, so a long scan does not hold
 * up a short lookup.
 */
const port = parentPort!;
const data = workerData as SeriesThreadData;
const metrics = new Registry();
const log = pino({ level: data.logLevel as Level }).child({ thread: 'series' });
const store = new DuckDbSeriesStore({ ...data.store, metrics, log });

/** The layout of each spec seen, so batches of one dataset definition share one layout object. */
const layouts = new Map<string, DatasetLayout>();
function layout(spec: DatasetSpec): DatasetLayout {
  const key = JSON.stringify(spec);
  let l = layouts.get(key);
  if (l === undefined) {
    if (layouts.size > 1000) layouts.clear();
    layouts.set(key, (l = layoutOf(spec)));
  }
  return l;
}

/** `appendMany` calls answered, for `testing.invalidateAtAppend`. */
let appends = 0;

type Handlers = {
  [K in SeriesOp]: (...args: Parameters<SeriesWireApi[K]>) => Promise<ReturnType<SeriesWireApi[K]>>;
};

const handlers: Handlers = {
  init: () => store.init(),
  close: () => store.close(),
  ensureDataset: (spec) => store.ensureDataset(layout(spec)),
  dropDataset: (name) => store.dropDataset(name),
  appendMany: async (spec, items) => {
    const results = await store.appendMany(
      layout(spec),
      items.map((it) => ({ batch: decodeBatch(it.bytes, { shareKeys: true }), keep: it.keep })),
    );
    if (++appends === data.testing?.invalidateAtAppend)
      throw new Error('FATAL Error: Failed: database has been invalidated (simulated for a test)');
    return results;
  },
  isApplied: (id) => store.isApplied(id),
  series: async (spec, q) => toWireSeries(await store.series(layout(spec), q)),
  latest: (spec, keys) => store.latest(layout(spec), keys),
  latestMany: (spec, keys) => store.latestMany(layout(spec), keys),
  rows: (spec, q) => store.rows(layout(spec), q),
  count: (spec) => store.count(layout(spec)),
  storedHashes: (spec, q) => store.storedHashes(layout(spec), q),
  rollupWatermark: (dataset) => store.rollupWatermark(dataset),
  flushRollups: () => store.flushRollups(),
  readRollups: async (spec, q) => toWireGroups(await store.readRollups(layout(spec), q)),
  dropExpired: (spec, cutoffs) => store.dropExpired(layout(spec), cutoffs),
  metrics: () => metrics.metrics(),
};

function send(msg: FromSeriesThread): void {
  port.postMessage(msg);
}

/** Scans whose last chunk waits for the caller's acknowledgement, by call id. */
const acks = new Map<number, { resolve(): void; reject(err: Error): void }>();

/** Streams a scan one chunk at a time: the next chunk is read once the caller has handled this one. */
function scan(id: number, call: ScanCall): Promise<void> {
  return store.scan(
    layout(call.spec),
    (chunk) =>
      new Promise<void>((resolve, reject) => {
        acks.set(id, { resolve, reject });
        send({ id, chunk });
      }),
    call.seqs,
  );
}

port.on('message', (msg: ToSeriesThread) => {
  if ('ack' in msg) {
    const waiting = acks.get(msg.ack);
    acks.delete(msg.ack);
    if (msg.failed) waiting?.reject(new Error('the caller stopped the scan'));
    else waiting?.resolve();
    return;
  }
  const run = (): Promise<unknown> => {
    if (msg.op === 'scan') return scan(msg.id, msg.scan);
    const handler = handlers[msg.op] as (...args: unknown[]) => Promise<unknown>;
    return handler(...msg.args);
  };
  run().then(
    (value) => send({ id: msg.id, ok: true, value }),
    (err: unknown) => send({ id: msg.id, ok: false, error: toWireError(err) }),
  );
});

/**
 * DuckDB SeriesStore append throughput: 1M readings rows (device_id, time, value, content hash, line)
 * in batches of 8192, each its own exactly-once transaction, into a file database. The anchor is
 * DuckDB loading the same rows from a CSV file with `CREATE TABLE ... AS SELECT * FROM read_csv(...)`
 * in the same run, so the ratio holds on a noisy machine.
 *
 * Run: node --import tsx bench/series-append.ts   (ROWS=… to change the row count)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { ColumnarBatch } from '../src/core/batch.js';
import { datasetSchema, layoutOf } from '../src/core/dataset.js';
import { DuckDbSeriesStore } from '../src/store/duckdb/duckdb-series-store.js';

const TOTAL = Number(process.env.ROWS ?? 1_000_000);
const BATCH = 8192;
const T0_US = 1_700_000_000_000_000;

const layout = layoutOf(
  datasetSchema.parse({
    name: 'readings',
    dedup: 'content',
    columns: [
      { name: 'device_id', type: 'string', role: 'key', required: true },
      { name: 'timestamp', type: 'time', role: 'time' },
      { name: 'value', type: 'number', role: 'field', required: true },
    ],
  }),
);

function makeBatch(seq: number, from: number, n: number): ColumnarBatch {
  const devices = new Array<string>(n);
  const timeUs = new Float64Array(n);
  const value = new Float64Array(n);
  const hashes = new Float64Array(n);
  const lines = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const i = from + j;
    devices[j] = `device-${String((i * 31) % 5000).padStart(5, '0')}`;
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

async function runStore(dir: string, batches: readonly ColumnarBatch[]): Promise<number> {
  const store = new DuckDbSeriesStore({ path: path.join(dir, 'series.duckdb') });
  await store.init();
  await store.ensureDataset(layout);
  const start = performance.now();
  for (const b of batches) await store.append(layout, b);
  const ms = performance.now() - start;
  const stored = await store.count(layout);
  await store.close();
  if (stored !== TOTAL) throw new Error(`stored ${stored} rows, expected ${TOTAL}`);
  return ms;
}

async function runAnchor(dir: string, csv: string): Promise<number> {
  const instance = await DuckDBInstance.create(path.join(dir, 'anchor.duckdb'));
  const conn = await instance.connect();
  const start = performance.now();
  await conn.run(`CREATE TABLE anchor AS SELECT * FROM read_csv('${csv.replaceAll("'", "''")}')`);
  const ms = performance.now() - start;
  const rows = (await conn.runAndReadAll('SELECT count(*) FROM anchor')).getRows()[0]![0];
  conn.closeSync();
  instance.closeSync();
  if (Number(rows) !== TOTAL) throw new Error(`anchor loaded ${String(rows)} rows`);
  return ms;
}

async function main(): Promise<void> {
  const batches: ColumnarBatch[] = [];
  for (let from = 0, seq = 0; from < TOTAL; from += BATCH, seq++) {
    batches.push(makeBatch(seq, from, Math.min(BATCH, TOTAL - from)));
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
  try {
    const csv = path.join(dir, 'rows.csv');
    writeCsv(csv, batches);
    const storeMs = await runStore(dir, batches);
    const anchorMs = await runAnchor(dir, csv);
    const rowsPerS = Math.round((TOTAL / storeMs) * 1000);
    const anchorRowsPerS = Math.round((TOTAL / anchorMs) * 1000);
    console.log(
      JSON.stringify({
        bench: 'series-append',
        rows: TOTAL,
        rows_per_batch: BATCH,
        rows_per_s: rowsPerS,
        anchor_read_csv_rows_per_s: anchorRowsPerS,
        ratio: Number((rowsPerS / anchorRowsPerS).toFixed(3)),
      }),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();

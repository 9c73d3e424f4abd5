/**
 * CSV decode throughput: the UploadDecoder (framing, validation, time and number parsing, content
 * hashes, columnar batches) against csv-parse splitting the same bytes into string cells, in the same
 * run and with the same 64 KiB chunks. csv-parse does strictly less work (no validation, no typed
 * columns), so a ratio above 1 means the hand-written scanner earns its place.
 *
 * Data: `device_id,timestamp,value` rows like `dev-0042,2024-03-01T12:00:00Z,21.5`, once with ISO times
 * (compared against csv-parse) and once with epoch-millisecond times.
 *
 * Run: npx tsx bench/csv-decode.ts   (ROWS=… to change the row count, default 1M)
 */
import { parse } from 'csv-parse';
import { UploadDecoder } from '../src/ingest/upload-decoder.js';
import { readingsLayout } from '../src/sim/readings-file.js';

const ROWS = Number(process.env.ROWS ?? 1_000_000);
const CHUNK = 64 * 1024;
const RUNS = 3;
const T0_MS = Date.UTC(2024, 2, 1, 12);

const layout = readingsLayout();

function generate(epochMs: boolean): Buffer {
  const parts: string[] = ['device_id,timestamp,value\n'];
  for (let i = 0; i < ROWS; i++) {
    const t = T0_MS + i * 1000;
    const time = epochMs ? String(t) : new Date(t).toISOString().replace('.000Z', 'Z');
    const value = (Math.round(Math.sin(i) * 1000) / 10).toString();
    parts.push(`dev-${String(i % 5000).padStart(4, '0')},${time},${value}\n`);
  }
  return Buffer.from(parts.join(''));
}

function chunksOf(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += CHUNK) out.push(data.subarray(i, i + CHUNK));
  return out;
}

function runSluice(chunks: Buffer[]): { ms: number; valid: number } {
  const t0 = performance.now();
  const decoder = new UploadDecoder({
    layout,
    source: 'bench',
    format: 'csv',
    batchRows: 8192,
    maxLineBytes: 1 << 20,
    nowMs: T0_MS,
    start: { offset: 0, line: 0 },
    startSeq: 0,
  });
  let valid = 0;
  for (const c of chunks) for (const b of decoder.push(c)) valid += b.length;
  for (const b of decoder.end()) valid += b.length;
  return { ms: performance.now() - t0, valid };
}

async function runCsvParse(chunks: Buffer[]): Promise<{ ms: number; records: number }> {
  const t0 = performance.now();
  let records = 0;
  const parser = parse({ from_line: 2 });
  parser.on('data', () => {
    records++;
  });
  const done = new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
  });
  for (const c of chunks) parser.write(c);
  parser.end();
  await done;
  return { ms: performance.now() - t0, records };
}

function best(times: number[]): number {
  return Math.min(...times);
}

async function main(): Promise<void> {
  const iso = chunksOf(generate(false));
  const epoch = chunksOf(generate(true));
  const sluiceIso: number[] = [];
  const sluiceEpoch: number[] = [];
  const csvParse: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const a = runSluice(iso);
    const b = runSluice(epoch);
    const c = await runCsvParse(iso);
    if (a.valid !== ROWS || b.valid !== ROWS || c.records !== ROWS) {
      throw new Error(`row count mismatch: ${a.valid} ${b.valid} ${c.records} (expected ${ROWS})`);
    }
    sluiceIso.push(a.ms);
    sluiceEpoch.push(b.ms);
    csvParse.push(c.ms);
  }
  const rate = (ms: number): number => Math.round((ROWS / ms) * 1000);
  const sluice = rate(best(sluiceIso));
  const anchor = rate(best(csvParse));
  console.log(
    JSON.stringify({
      bench: 'csv-decode',
      rows: ROWS,
      sluice_rows_per_s: sluice,
      sluice_epoch_ms_rows_per_s: rate(best(sluiceEpoch)),
      csv_parse_rows_per_s: anchor,
      ratio: Math.round((sluice / anchor) * 100) / 100,
    }),
  );
}

await main();

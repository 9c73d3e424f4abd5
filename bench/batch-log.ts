/**
 * Local BatchLog throughput: append and consume 200 batches of 8192 rows (device_id, time, value),
 * against an anchor that writes the same encoded bytes with writeSync + fsyncSync per batch.
 * Also compares the codec's joined-string decoding with a per-value decode of the same column.
 *
 * Run: node --import tsx bench/batch-log.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ColumnarBatch } from '../src/core/batch.js';
import { encodeBatch } from '../src/log/local/batch-codec.js';
import { decodeBatch } from '../src/log/local/batch-decoder.js';
import { LocalBatchLog } from '../src/log/local/local-batch-log.js';

const BATCHES = 200;
const ROWS = 8192;
const PRODUCERS = 4;

function makeBatch(seq: number): ColumnarBatch {
  const devices = new Array<string>(ROWS);
  const timeUs = new Float64Array(ROWS);
  const value = new Float64Array(ROWS);
  const lines = new Float64Array(ROWS);
  for (let i = 0; i < ROWS; i++) {
    devices[i] = `device-${String((seq * 31 + i) % 5000).padStart(5, '0')}`;
    timeUs[i] = 1_700_000_000_000_000 + (seq * ROWS + i) * 1000;
    value[i] = Math.sin(i) * 100;
    lines[i] = seq * ROWS + i + 2;
  }
  return {
    id: `bench:${seq}`,
    dataset: 'readings',
    source: 'bench',
    seq,
    length: ROWS,
    keys: [devices],
    timeUs,
    fields: [value],
    payloads: [],
    attributes: [],
    timeText: null,
    hashes: null,
    lines,
    totalRows: ROWS,
    rejects: [],
    end: { offset: (seq + 1) * ROWS * 40, line: (seq + 1) * ROWS + 1 },
  };
}

const round = (n: number, digits = 1): number => Number(n.toFixed(digits));

async function runLog(batches: ColumnarBatch[], producers: number, groupCommitMs: number): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
  try {
    const log = new LocalBatchLog({ dir, groupCommitMs });
    await log.init();
    let rows = 0;
    log.consume(async (b) => {
      rows += b.length;
    });
    const start = performance.now();
    let next = 0;
    // Each producer appends one batch at a time, as an upload does.
    await Promise.all(
      Array.from({ length: producers }, async () => {
        while (next < batches.length) await log.append(batches[next++]!);
      }),
    );
    await log.drained();
    const ms = performance.now() - start;
    await log.close();
    if (rows !== batches.length * ROWS) throw new Error(`consumed ${rows} rows`);
    return ms;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function runAnchor(encoded: Buffer[]): number {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
  try {
    const fd = fs.openSync(path.join(dir, 'anchor.bin'), 'w');
    const start = performance.now();
    for (const buf of encoded) {
      fs.writeSync(fd, buf);
      fs.fsyncSync(fd);
    }
    const ms = performance.now() - start;
    fs.closeSync(fd);
    return ms;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The alternative string layout: a u32 byte length before each value, decoded value by value. */
function perValueStrings(col: string[]): { encode: () => Buffer; decode: (b: Buffer) => string[] } {
  return {
    encode: () => {
      const out = Buffer.allocUnsafe(col.reduce((n, s) => n + 4 + s.length * 3, 4));
      let pos = out.writeUInt32LE(col.length, 0);
      for (const s of col) {
        const n = out.write(s, pos + 4, 'utf8');
        out.writeUInt32LE(n, pos);
        pos += 4 + n;
      }
      return out.subarray(0, pos);
    },
    decode: (b) => {
      const count = b.readUInt32LE(0);
      const out = new Array<string>(count);
      let pos = 4;
      for (let i = 0; i < count; i++) {
        const n = b.readUInt32LE(pos);
        out[i] = b.toString('utf8', pos + 4, pos + 4 + n);
        pos += 4 + n;
      }
      return out;
    },
  };
}

function timeIt(reps: number, fn: () => unknown): number {
  fn();
  const start = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - start) / reps;
}

async function main(): Promise<void> {
  const batches = Array.from({ length: BATCHES }, (_, i) => makeBatch(i));
  const encoded = batches.map(encodeBatch);
  const mb = encoded.reduce((n, b) => n + b.length, 0) / 1e6;

  const anchorMs = runAnchor(encoded);
  // A lone producer waits out the whole group-commit window on every append; 0 shows that cost.
  const serialMs = await runLog(batches, 1, 2);
  const serialNoWindowMs = await runLog(batches, 1, 0);
  const concurrentMs = await runLog(batches, PRODUCERS, 2);

  const one = batches[0]!;
  const oneBytes = encoded[0]!;
  const encodeMs = timeIt(50, () => encodeBatch(one));
  const decodeMs = timeIt(50, () => decodeBatch(oneBytes));
  // Same key column alone, so the codec's decode time is its string decoding.
  const keysOnly = encodeBatch({ ...one, timeUs: null, fields: [], lines: new Float64Array(0) });
  const alt = perValueStrings(one.keys[0]!);
  const altBytes = alt.encode();
  const joinedDecodeMs = timeIt(100, () => decodeBatch(keysOnly));
  const perValueDecodeMs = timeIt(100, () => alt.decode(altBytes));
  const joinedEncodeMs = timeIt(100, () =>
    encodeBatch({ ...one, timeUs: null, fields: [], lines: new Float64Array(0) }),
  );
  const perValueEncodeMs = timeIt(100, () => alt.encode());

  const rate = (ms: number): Record<string, number> => ({
    batches_per_s: round((BATCHES / ms) * 1000),
    rows_per_s: Math.round(((BATCHES * ROWS) / ms) * 1000),
    mb_per_s: round((mb / ms) * 1000),
  });
  console.log(
    JSON.stringify({
      bench: 'batch-log',
      batches: BATCHES,
      rows_per_batch: ROWS,
      mb: round(mb),
      anchor_write_fsync: rate(anchorMs),
      log_1_producer: rate(serialMs),
      log_1_producer_group_commit_0: rate(serialNoWindowMs),
      log_4_producers: rate(concurrentMs),
      vs_anchor: {
        one_producer: round(anchorMs / serialMs, 2),
        one_producer_group_commit_0: round(anchorMs / serialNoWindowMs, 2),
        four_producers: round(anchorMs / concurrentMs, 2),
      },
      codec_mb_per_s: {
        encode: round(oneBytes.length / 1e3 / encodeMs),
        decode: round(oneBytes.length / 1e3 / decodeMs),
      },
      key_column_8192_ms: {
        joined_decode: round(joinedDecodeMs, 3),
        per_value_decode: round(perValueDecodeMs, 3),
        joined_encode: round(joinedEncodeMs, 3),
        per_value_encode: round(perValueEncodeMs, 3),
      },
    }),
  );
}

await main();

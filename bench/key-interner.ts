/**
 * Key sharing on decode: nanoseconds per value for `KeyInterner.fromAscii` over batch-sized key
 * columns (8,192 values of 1,000 device ids in random order, as a fleet's readings arrive), against
 * the anchor of decoding every value afresh (`Buffer.toString('latin1')`, what a batch without sharing
 * costs), in the same run. Sharing saves the young generation from copying a new string per row (see
 * src/log/local/key-interner.ts); this shows what the lookup itself costs.
 *
 * Run: npm run bench -- key-interner [--devices 1000] [--rounds 200]
 * Prints one JSON line.
 */
import { bestAlternating } from './lib/alternating.js';
import { numberArg } from './lib/args.js';
import { KeyInterner } from '../src/log/local/key-interner.js';
import { mulberry32 } from '../src/sim/random.js';

const DEVICES = numberArg('devices', 1000);
const ROUNDS = numberArg('rounds', 200);
const ROWS = 8192;
const COLUMNS = 16;

const rand = mulberry32(7);
const ids = Array.from({ length: DEVICES }, (_, i) => `device-${String(i).padStart(5, '0')}`);
const columns = Array.from({ length: COLUMNS }, () => {
  const col = Array.from({ length: ROWS }, () => ids[Math.floor(rand() * DEVICES)]!);
  return { bytes: Buffer.from(col.join(''), 'latin1'), lengths: Int32Array.from(col, (v) => v.length) };
});

function decodeFresh(bytes: Buffer, lengths: Int32Array): string[] {
  const out = new Array<string>(lengths.length);
  for (let i = 0, p = 0; i < lengths.length; p += lengths[i++]!)
    out[i] = bytes.toString('latin1', p, p + lengths[i]!);
  return out;
}

/** Nanoseconds per value over ROUNDS passes of every column, after a warm-up. */
function nsPerValue(decode: (bytes: Buffer, lengths: Int32Array) => string[]): number {
  let sink = 0;
  for (let r = 0; r < 20; r++) for (const c of columns) sink += decode(c.bytes, c.lengths).length;
  const started = process.hrtime.bigint();
  for (let r = 0; r < ROUNDS; r++) for (const c of columns) sink += decode(c.bytes, c.lengths).length;
  const ns = Number(process.hrtime.bigint() - started);
  if (sink === 0) throw new Error('nothing decoded');
  return Number((ns / (ROUNDS * COLUMNS * ROWS)).toFixed(1));
}

const interner = new KeyInterner();
const shared = (bytes: Buffer, lengths: Int32Array): string[] => interner.fromAscii(bytes, 0, lengths, ROWS);
const best = bestAlternating({ shared: () => nsPerValue(shared), fresh: () => nsPerValue(decodeFresh) });

console.log(
  JSON.stringify({
    bench: 'key-interner',
    devices: DEVICES,
    values_per_column: ROWS,
    shared_ns_per_value: best.shared,
    anchor_fresh_decode_ns_per_value: best.fresh,
  }),
);

import { describe, it, expect } from 'vitest';
import type { ColumnarBatch } from '../../src/core/batch.js';
import { BatchEncoder, encodeBatch } from '../../src/log/local/batch-codec.js';
import { decodeBatch } from '../../src/log/local/batch-decoder.js';
import { isSluiceError } from '../../src/core/errors.js';
import { makeTestBatch } from '../conformance/batch-log.js';

function bytesOf(a: Float64Array | null): number[] | null {
  return a === null ? null : Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

/** Deep comparison that also checks Float64 columns bit for bit (NaN payloads, -0). */
function expectSameBatch(got: ColumnarBatch, want: ColumnarBatch): void {
  const strip = (b: ColumnarBatch): Record<string, unknown> => ({
    ...b,
    timeUs: bytesOf(b.timeUs),
    fields: b.fields.map(bytesOf),
    hashes: bytesOf(b.hashes),
    lines: bytesOf(b.lines),
  });
  expect(strip(got)).toStrictEqual(strip(want));
  for (const a of [got.timeUs, got.hashes, got.lines, ...got.fields]) {
    if (a !== null) expect(a).toBeInstanceOf(Float64Array);
  }
}

function expectCorrupt(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(isSluiceError(e) && e.code === 'internal').toBe(true);
    return;
  }
  throw new Error('expected decode to fail');
}

describe('batch codec', () => {
  it('round-trips every field of a full batch', () => {
    const batch = makeTestBatch('up1', 7, 100);
    expectSameBatch(decodeBatch(encodeBatch(batch)), batch);
  });

  it('keeps null distinct from empty string, and non-ASCII text exact', () => {
    const batch: ColumnarBatch = {
      ...makeTestBatch('u', 0, 4),
      keys: [
        ['', 'a', 'é', '😀x'],
        ['k', '', '', 'ü'],
      ],
      payloads: [[null, '', '{"a":"日本"}', null]],
      attributes: [
        ['', null, 'x', ''],
        [null, null, null, null],
      ],
      timeText: ['', '2024-01-01 00:00:00 +0200 CEST', 'ß', ''],
    };
    const got = decodeBatch(encodeBatch(batch));
    expect(got.keys).toStrictEqual(batch.keys);
    expect(got.payloads).toStrictEqual(batch.payloads);
    expect(got.attributes).toStrictEqual(batch.attributes);
    expect(got.timeText).toStrictEqual(batch.timeText);
  });

  it('decodes shared keys equal to the encoded ones, ASCII or not', () => {
    const base = makeTestBatch('u', 0, 600);
    const batch: ColumnarBatch = {
      ...base,
      keys: [
        Array.from({ length: 600 }, (_, i) => `device-${i % 5}`),
        Array.from({ length: 600 }, (_, i) => (i % 3 === 0 ? 'é' : `k${i}`)),
      ],
    };
    for (let round = 0; round < 2; round++) {
      expect(decodeBatch(encodeBatch(batch), { shareKeys: true }).keys).toStrictEqual(batch.keys);
    }
  });

  it('round-trips special floats bit for bit, and sub-views of larger buffers', () => {
    const backing = new Float64Array([99, NaN, -0, Infinity, -Infinity, 2 ** 53, 5e-324, 99]);
    const weirdNaN = new Float64Array(1);
    new DataView(weirdNaN.buffer).setBigUint64(0, 0x7ff8_dead_beef_0001n, true);
    const batch: ColumnarBatch = {
      ...makeTestBatch('u', 1, 6),
      timeUs: backing.subarray(1, 7),
      fields: [new Float64Array([weirdNaN[0]!, 1, 2, 3, 4, 5]), new Float64Array(16)],
    };
    expectSameBatch(decodeBatch(encodeBatch(batch)), batch);
  });

  it('round-trips the empty and all-null shapes', () => {
    const batch: ColumnarBatch = {
      id: 's:0',
      dataset: 'd',
      source: 's',
      seq: 0,
      length: 0,
      keys: [[]],
      timeUs: null,
      fields: [],
      payloads: [],
      attributes: [],
      timeText: null,
      hashes: null,
      lines: new Float64Array(0),
      totalRows: 3,
      rejects: [{ line: 2, reason: 'bad_json', column: null, raw: '' }],
      end: { offset: 0, line: 0 },
    };
    expectSameBatch(decodeBatch(encodeBatch(batch)), batch);
  });

  it('decodes from an unaligned buffer by copying typed arrays', () => {
    const batch = makeTestBatch('u', 2, 33);
    const bytes = encodeBatch(batch);
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    const got = decodeBatch(shifted);
    expectSameBatch(got, batch);
    expect(got.lines.byteOffset % 8).toBe(0);
  });

  it('leaves the reserved prefix to the caller and encodes identically after it', () => {
    const enc = new BatchEncoder();
    const batch = makeTestBatch('u', 3, 10);
    const plain = Buffer.from(enc.encode(batch));
    const prefixed = enc.encode(batch, 16);
    expect(Buffer.compare(prefixed.subarray(16), plain)).toBe(0);
    expect(() => enc.encode(batch, 3)).toThrow();
  });

  it('grows its scratch buffer for large batches', () => {
    const enc = new BatchEncoder();
    const big: ColumnarBatch = {
      ...makeTestBatch('u', 4, 3),
      payloads: [['x'.repeat(300_000), null, 'é'.repeat(70_000)]],
    };
    expectSameBatch(decodeBatch(enc.encode(big)), big);
    const small = makeTestBatch('u', 5, 2);
    expectSameBatch(decodeBatch(enc.encode(small)), small);
  });

  it('rejects truncated, trailing and foreign bytes', () => {
    const bytes = encodeBatch(makeTestBatch('u', 6, 5));
    expectCorrupt(() => decodeBatch(bytes.subarray(0, bytes.length - 3)));
    expectCorrupt(() => decodeBatch(Buffer.concat([bytes, Buffer.from([0])])));
    expectCorrupt(() => decodeBatch(Buffer.from('not a batch at all')));
  });
});

describe('decoded batches', () => {
  it('carry their encoding, hidden from copies that spread them', () => {
    const bytes = encodeBatch(makeTestBatch('up_1', 0, 10));
    const batch = decodeBatch(bytes);
    expect(batch.encoded).toBe(bytes);
    expect({ ...batch }.encoded).toBeUndefined();
  });
});

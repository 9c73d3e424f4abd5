import { describe, expect, it } from 'vitest';
import type { ColumnarBatch } from '../../src/core/batch.js';
import { datasetSchema, layoutOf, type DatasetInput } from '../../src/core/dataset.js';
import { REJECT_REASONS } from '../../src/core/errors.js';
import { UploadDecoder, type DecoderOptions } from '../../src/ingest/upload-decoder.js';

const NOW = Date.UTC(2024, 2, 1, 12, 1);

const readings: DatasetInput = {
  name: 'readings',
  dedup: 'content',
  columns: [
    { name: 'device_id', role: 'key', required: true },
    { name: 'timestamp', type: 'time', role: 'time' },
    { name: 'value', type: 'number', role: 'field', required: true },
    { name: 'note', role: 'attribute' },
  ],
};

function decoderFor(input: DatasetInput, opts: Partial<DecoderOptions> = {}): UploadDecoder {
  const layout = layoutOf(datasetSchema.parse(input));
  return new UploadDecoder({
    layout,
    source: 'up1',
    format: layout.spec.format,
    batchRows: 4,
    maxLineBytes: 60,
    nowMs: NOW,
    start: { offset: 0, line: 0 },
    startSeq: 0,
    ...opts,
  });
}

/** Decodes `data` pushed in pieces cut at `cuts` (sorted byte offsets). */
function decodeCut(
  input: DatasetInput,
  data: Buffer,
  cuts: number[],
  opts: Partial<DecoderOptions> = {},
): ColumnarBatch[] {
  const d = decoderFor(input, opts);
  const out: ColumnarBatch[] = [];
  let at = 0;
  for (const c of [...cuts, data.length]) {
    out.push(...d.push(data.subarray(at, c)));
    at = c;
  }
  out.push(...d.end());
  return out;
}

/** A comparable form: typed arrays as arrays, NaN kept distinguishable. */
function plain(batches: ColumnarBatch[]): unknown {
  return JSON.parse(
    JSON.stringify(batches, (_k, v: unknown) => {
      if (v instanceof Float64Array) return Array.from(v, (x) => (Number.isNaN(x) ? 'NaN' : x));
      return v;
    }),
  ) as unknown;
}

function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** A small file exercising every framing case: BOM, CRLF, quoted newlines, blank, overlong, bad bytes. */
function trickyFile(): Buffer {
  return Buffer.concat([
    Buffer.from('\uFEFFdevice_id,timestamp,value,note\r\n'),
    Buffer.from('dev-1,2024-03-01T12:00:00Z,1.5,"multi\nline ""note"""\r\n'),
    Buffer.from('\r\n'),
    Buffer.from('dev-2,1709294400000,2,\n'),
    Buffer.from(`dev-3,1709294400,3,${'x'.repeat(80)}\n`),
    Buffer.from('dev-4,1709294400,4,ok\n'),
    Buffer.from([0x64, 0x2c, 0xff, 0xc3, 0x28, 0x2c, 0x35, 0x0a]),
    Buffer.from(`dev-5,1709294400,5,"open ${'q'.repeat(70)}\nstill open\n`),
    Buffer.from('dev-6,1709294400,6,é\n'),
    Buffer.from('dev-7,1709294400,,x\n'),
    Buffer.from('dev-8,2024-03-01 12:00:00 +0200 CEST,8,last'),
  ]);
}

describe('UploadDecoder', () => {
  it('decodes the tricky file as expected', () => {
    const data = trickyFile();
    const batches = decodeCut(readings, data, []);
    const rejects = batches.flatMap((b) => b.rejects).map((r) => [r.line, r.reason]);
    expect(rejects).toEqual([
      [6, 'line_too_long'],
      [8, 'bad_encoding'],
      [9, 'unterminated_quote'],
      // Past the window the quote is abandoned and decoding resyncs at the next newline.
      [10, 'column_count'],
      [12, 'missing_value'],
    ]);
    expect(batches.flatMap((b) => Array.from(b.lines))).toEqual([2, 5, 7, 11, 13]);
    expect(batches.flatMap((b) => b.keys[0])).toEqual(['dev-1', 'dev-2', 'dev-4', 'dev-6', 'dev-8']);
    expect(batches[0]!.attributes[0]![0]).toBe('multi\nline "note"');
    expect(batches.map((b) => [b.id, b.totalRows, b.length])).toEqual([
      ['up1:0', 4, 3],
      ['up1:1', 4, 1],
      ['up1:2', 2, 1],
    ]);
    expect(batches.at(-1)!.end).toEqual({ offset: data.length, line: 13 });
  });

  it('gives identical batches however the bytes are chunked (every single cut, and all 1-byte chunks)', () => {
    const data = trickyFile();
    const expected = plain(decodeCut(readings, data, []));
    for (let k = 1; k < data.length; k++) {
      expect(plain(decodeCut(readings, data, [k])), `cut at ${k}`).toEqual(expected);
    }
    const everyByte = Array.from({ length: data.length - 1 }, (_, i) => i + 1);
    expect(plain(decodeCut(readings, data, everyByte))).toEqual(expected);
  });

  it('gives identical batches under random chunking of a larger file', () => {
    const rand = lcg(5);
    const parts: Buffer[] = [Buffer.from('device_id,timestamp,value,note\n')];
    for (let i = 0; i < 3000; i++) {
      const kind = rand(40);
      if (kind === 0) parts.push(Buffer.from(`dev-${i},1709294400,1,${'y'.repeat(50 + rand(100))}\n`));
      else if (kind === 1) parts.push(Buffer.from(`dev-${i},1709294400,1,"a\r\nb"\r\n`));
      else if (kind === 2) parts.push(Buffer.from([0x00, 0x80, 0x2c, 0x0a]));
      else if (kind === 3) parts.push(Buffer.from('\n'));
      else parts.push(Buffer.from(`dev-${i % 97},${1709294400 + i},${(i % 300) / 4},n${i}\n`));
    }
    const data = Buffer.concat(parts);
    const opts = { batchRows: 97 };
    const expected = plain(decodeCut(readings, data, [], opts));
    for (let trial = 0; trial < 20; trial++) {
      const cuts = new Set<number>();
      for (let j = 0, n = 1 + rand(200); j < n; j++) cuts.add(1 + rand(data.length - 1));
      const sorted = [...cuts].sort((a, b) => a - b);
      expect(plain(decodeCut(readings, data, sorted, opts)), `trial ${trial}`).toEqual(expected);
    }
  });

  it('resumes from batch.end of batch k and reproduces batches k+1.. exactly', () => {
    const data = trickyFile();
    const all = decodeCut(readings, data, [], { batchRows: 2 });
    expect(all.length).toBeGreaterThan(3);
    const headerLine = data.subarray(0, data.indexOf(0x0a) + 1).toString('utf8');
    for (let k = 0; k < all.length; k++) {
      const start = all[k]!.end;
      const rest = decodeCut(readings, data.subarray(start.offset), [5], {
        batchRows: 2,
        start,
        startSeq: k + 1,
        headerLine,
      });
      expect(plain(rest), `after batch ${k}`).toEqual(plain(all.slice(k + 1)));
    }
  });

  it('needs the header line to resume a CSV that may have one', () => {
    expect(() => decoderFor(readings, { start: { offset: 10, line: 1 }, startSeq: 1 })).toThrow(/headerLine/);
    const noHeader = { ...readings, csv: { header: 'false' as const, delimiter: ',' } };
    expect(() => decoderFor(noHeader, { start: { offset: 10, line: 1 }, startSeq: 1 })).not.toThrow();
  });

  it('rejects a 2 MiB line without buffering it and parses the lines after it', () => {
    const maxLineBytes = 1 << 20;
    const d = decoderFor(readings, { maxLineBytes, batchRows: 100 });
    const huge = Buffer.alloc(2 << 20, 0x78);
    const data = Buffer.concat([
      Buffer.from('device_id,timestamp,value,note\ndev-1,1709294400,1,a\n'),
      huge,
      Buffer.from('\ndev-2,1709294400,2,b\n"'),
      huge,
      Buffer.from('\ndev-3,1709294400,3,c\n'),
    ]);
    const out: ColumnarBatch[] = [];
    let peak = 0;
    for (let i = 0; i < data.length; i += 64 * 1024) {
      out.push(...d.push(data.subarray(i, i + 64 * 1024)));
      peak = Math.max(peak, (d as unknown as { pending: Buffer }).pending.length);
    }
    out.push(...d.end());
    // The carry buffer holds at most one row window plus a chunk, never the 2 MiB line.
    expect(peak).toBeLessThanOrEqual(maxLineBytes * 2 + 64 * 1024);
    const b = out[0]!;
    expect(b.keys[0]).toEqual(['dev-1', 'dev-2', 'dev-3']);
    expect(Array.from(b.lines)).toEqual([2, 4, 6]);
    expect(b.rejects.map((r) => [r.line, r.reason, r.raw.length])).toEqual([
      [3, 'line_too_long', 4096],
      [5, 'unterminated_quote', 4096],
    ]);
    expect(b.end).toEqual({ offset: data.length, line: 6 });
  });

  it('reports an unterminated quote at end of input', () => {
    const batches = decodeCut(readings, Buffer.from('dev-1,1709294400,1,a\ndev-2,1709294400,2,"b\nc\n'), []);
    expect(batches[0]!.rejects.map((r) => [r.line, r.reason, r.raw])).toEqual([
      [2, 'unterminated_quote', 'dev-2,1709294400,2,"b\nc\n'],
    ]);
    expect(batches[0]!.end).toEqual({ offset: 45, line: 3 });
  });

  it('turns binary garbage into row rejects, never a throw', () => {
    const rand = lcg(11);
    const garbage = Buffer.alloc(200_000);
    for (let i = 0; i < garbage.length; i++) garbage[i] = rand(256);
    for (const format of ['csv', 'ndjson'] as const) {
      const batches = decodeCut({ ...readings, format }, garbage, [777, 65_536], {
        batchRows: 1000,
        maxLineBytes: 4096,
      });
      const rejects = batches.flatMap((b) => b.rejects);
      expect(rejects.length).toBeGreaterThan(100);
      expect(batches.reduce((n, b) => n + b.length, 0)).toBe(0);
      expect(batches.reduce((n, b) => n + b.totalRows, 0)).toBe(rejects.length);
      for (const r of rejects) {
        expect(Object.keys(REJECT_REASONS)).toContain(r.reason);
        expect(r.raw.includes('\0')).toBe(false);
      }
      expect(rejects.filter((r) => r.reason === 'bad_encoding').length).toBeGreaterThan(rejects.length / 2);
    }
  });

  it('handles NDJSON framing the same way as CSV', () => {
    const spec = { ...readings, format: 'ndjson' as const };
    const data = Buffer.from(
      [
        '{"device_id":"a","timestamp":1709294400,"value":1}',
        '',
        `{"device_id":"b","timestamp":1709294400,"value":2,"note":"${'z'.repeat(80)}"}`,
        '{"device_id":"c","timestamp":1709294400,"value":3}',
      ].join('\r\n'),
    );
    const expected = plain(decodeCut(spec, data, []));
    for (let k = 1; k < data.length; k++) expect(plain(decodeCut(spec, data, [k]))).toEqual(expected);
    const b = decodeCut(spec, data, [])[0]!;
    expect(b.keys[0]).toEqual(['a', 'c']);
    expect(b.rejects.map((r) => [r.line, r.reason])).toEqual([[3, 'line_too_long']]);
  });

  it('refuses push after end', () => {
    const d = decoderFor(readings);
    expect(d.end()).toEqual([]);
    expect(() => d.push(Buffer.from('x'))).toThrow();
  });
});

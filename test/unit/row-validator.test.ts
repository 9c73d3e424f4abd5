import { describe, expect, it } from 'vitest';
import type { ColumnarBatch, Reject } from '../../src/core/batch.js';
import { datasetSchema, layoutOf, type DatasetInput } from '../../src/core/dataset.js';
import {
  canonicalJson,
  canonicalizeJsonText,
  contentHashOf,
  keyHashOf,
} from '../../src/ingest/content-hash.js';
import { parseDecimalText } from '../../src/ingest/row-validator.js';
import { UploadDecoder, type DecoderOptions } from '../../src/ingest/upload-decoder.js';

const NOW = Date.UTC(2024, 2, 1, 12, 1);

function decode(
  input: DatasetInput,
  text: string | Buffer,
  opts: Partial<DecoderOptions> = {},
): { batches: ColumnarBatch[]; rejects: Reject[] } {
  const layout = layoutOf(datasetSchema.parse(input));
  const decoder = new UploadDecoder({
    layout,
    source: 'up1',
    format: layout.spec.format,
    batchRows: 1000,
    maxLineBytes: 1 << 20,
    nowMs: NOW,
    start: { offset: 0, line: 0 },
    startSeq: 0,
    ...opts,
  });
  const batches = [...decoder.push(Buffer.isBuffer(text) ? text : Buffer.from(text)), ...decoder.end()];
  return { batches, rejects: batches.flatMap((b) => b.rejects) };
}

const readings: DatasetInput = {
  name: 'readings',
  dedup: 'content',
  columns: [
    { name: 'device_id', role: 'key', required: true, pattern: '^dev-' },
    { name: 'timestamp', type: 'time', role: 'time', required: true, window: { past: '1d', future: '5m' } },
    { name: 'value', type: 'number', role: 'field', required: true, min: -50, max: 150 },
    { name: 'status', role: 'attribute', enum: ['ok', 'warn'] },
    { name: 'count', type: 'integer', role: 'field' },
    { name: 'data', type: 'json', role: 'payload' },
  ],
};

describe('row rules (CSV)', () => {
  it('rejects each kind of bad row with its reason, column and 1-based line', () => {
    const T = '2024-03-01T12:00:00Z';
    const lines = [
      'device_id,timestamp,value,status,count,data',
      `dev-1,${T},21.5,ok,3,"{""b"":1,""a"":2}"`,
      `dev-2,${T},1,ok,3`,
      `,${T},1,ok,3,{}`,
      `dev-3,${T},,ok,3,{}`,
      `dev-4,${T},abc,ok,3,{}`,
      `dev-5,${T},1,ok,3.5,{}`,
      `dev-6,yesterday,1,ok,3,{}`,
      `dev-7,2020-01-01T00:00:00Z,1,ok,3,{}`,
      `dev-8,${T},200,ok,3,{}`,
      `dev-9,${T},1,bad,3,{}`,
      `xyz,${T},1,ok,3,{}`,
      `dev-10,${T},1,ok,3,{oops`,
      `dev-11,bad-time-first,abc,ok,3,{}`,
      '',
      `dev-12,${T},NaN,ok,3,{}`,
      `dev-13,2024-03-01 12:00:00 +0200 CEST,-0.5,,,`,
      `"dev-14","${T}","7",warn,"4","[1, {""z"":null}]"`,
    ];
    const { batches, rejects } = decode(readings, lines.join('\n') + '\n');
    expect(rejects.map((r) => [r.line, r.reason, r.column])).toEqual([
      [3, 'column_count', null],
      [4, 'missing_key', 'device_id'],
      [5, 'missing_value', 'value'],
      [6, 'not_a_number', 'value'],
      [7, 'not_a_number', 'count'],
      [8, 'bad_time', 'timestamp'],
      [9, 'time_out_of_window', 'timestamp'],
      [10, 'out_of_range', 'value'],
      [11, 'not_in_enum', 'status'],
      [12, 'pattern_mismatch', 'device_id'],
      [13, 'bad_json', 'data'],
      [14, 'bad_time', 'timestamp'],
      [16, 'not_a_number', 'value'],
    ]);
    expect(rejects[0]!.raw).toBe(lines[2]);
    expect(batches).toHaveLength(1);
    const b = batches[0]!;
    expect(b.totalRows).toBe(16);
    expect(b.length).toBe(3);
    expect(Array.from(b.lines)).toEqual([2, 17, 18]);
    expect(b.keys).toEqual([['dev-1', 'dev-13', 'dev-14']]);
    expect(Array.from(b.timeUs!)).toEqual([
      Date.parse(T) * 1000,
      Date.parse('2024-03-01T10:00:00Z') * 1000,
      Date.parse(T) * 1000,
    ]);
    expect(Array.from(b.fields[0]!)).toEqual([21.5, -0.5, 7]);
    expect(Array.from(b.fields[1]!)).toEqual([3, NaN, 4]);
    expect(b.attributes).toEqual([['ok', null, 'warn']]);
    expect(b.payloads).toEqual([['{"a":2,"b":1}', null, '[1,{"z":null}]']]);
    expect(b.timeText).toBeNull();
    expect(b.hashes).toHaveLength(3);
    expect(new Set(b.hashes).size).toBe(3);
    expect(b.end).toEqual({ offset: Buffer.byteLength(lines.join('\n') + '\n'), line: 18 });
  });

  it('maps header columns by name in any order, ignoring extras, case-insensitively', () => {
    const csv = 'Value,extra,DEVICE_ID,timestamp\n5,zzz,dev-1,1709294400\n';
    const { batches, rejects } = decode({ ...readings, csv: { header: 'true', delimiter: ',' } }, csv);
    expect(rejects).toEqual([]);
    expect(batches[0]!.keys).toEqual([['dev-1']]);
    expect(Array.from(batches[0]!.fields[0]!)).toEqual([5]);
  });

  it('auto-detects a header only when every cell names a column', () => {
    const spec: DatasetInput = {
      name: 'simple',
      columns: [
        { name: 'id', role: 'key' },
        { name: 'price', type: 'number', role: 'field' },
      ],
    };
    expect(decode(spec, 'price,id\n1.5,a\n').batches[0]!.keys).toEqual([['a']]);
    const noHeader = decode(spec, 'a,1.5\nb,2\n').batches[0]!;
    expect(noHeader.keys).toEqual([['a', 'b']]);
    expect(Array.from(noHeader.lines)).toEqual([1, 2]);
    const declared = decode({ ...spec, csv: { header: 'false', delimiter: ';' } }, 'id;price\n').rejects;
    expect(declared.map((r) => [r.line, r.reason, r.column])).toEqual([[1, 'not_a_number', 'price']]);
  });

  it('rejects every row when the header lacks a required column, naming it', () => {
    const spec = { ...readings, csv: { header: 'true' as const, delimiter: ',' } };
    const { rejects } = decode(spec, 'device_id,timestamp\ndev-1,1709294400\ndev-2,1709294400\n');
    expect(rejects.map((r) => [r.line, r.reason, r.column])).toEqual([
      [2, 'missing_value', 'value'],
      [3, 'missing_value', 'value'],
    ]);
    const noKey = decode(spec, 'timestamp,value\n1709294400,1\n').rejects;
    expect(noKey.map((r) => [r.line, r.reason, r.column])).toEqual([[2, 'missing_key', 'device_id']]);
  });

  it('keeps the original time text in replace mode', () => {
    const spec: DatasetInput = {
      name: 'promotions',
      mode: 'replace',
      dedup: 'key',
      columns: [
        { name: 'id', role: 'key' },
        { name: 'price', type: 'number', role: 'field' },
        { name: 'expiration_date', type: 'time', role: 'time' },
      ],
    };
    const b = decode(spec, 'id,price,expiration_date\np1,9.5,2018-08-04 05:32:31 +0200 CEST\np2,1,\n')
      .batches[0]!;
    expect(b.timeText).toEqual(['2018-08-04 05:32:31 +0200 CEST', '']);
    expect(b.timeUs![0]).toBe(Date.parse('2018-08-04T03:32:31Z') * 1000);
    expect(b.timeUs![1]).toBeNaN();
    expect(b.hashes![0]).toBe(keyHashOf(['p1']));
  });
});

describe('row rules (NDJSON)', () => {
  const spec: DatasetInput = {
    ...readings,
    format: 'ndjson',
    columns: readings.columns.map((c) => (c.name === 'device_id' ? { ...c, pattern: undefined } : c)),
  };

  it('looks values up by name and rejects bad lines', () => {
    const lines = [
      '{"device_id":"dev-1","timestamp":"2024-03-01T12:00:00Z","value":21.5,"data":{"y":2,"x":1}}',
      '{"device_id":42,"timestamp":1709294400000,"value":"3","status":"ok","count":2,"data":"text"}',
      '{oops',
      '[1,2]',
      '7',
      '   ',
      '{"timestamp":1709294400,"value":1}',
      '{"device_id":true,"timestamp":1709294400,"value":true}',
      '{"device_id":"d","timestamp":1709294400,"value":1,"data":null}\r',
    ];
    const { batches, rejects } = decode(spec, lines.join('\n'));
    expect(rejects.map((r) => [r.line, r.reason, r.column])).toEqual([
      [3, 'bad_json', null],
      [4, 'not_an_object', null],
      [5, 'not_an_object', null],
      [7, 'missing_key', 'device_id'],
      [8, 'not_a_number', 'value'],
    ]);
    expect(rejects[0]!.raw).toBe('{oops');
    const b = batches[0]!;
    expect(b.keys).toEqual([['dev-1', '42', 'd']]);
    expect(Array.from(b.lines)).toEqual([1, 2, 9]);
    expect(b.payloads).toEqual([['{"x":1,"y":2}', '"text"', null]]);
    expect(b.attributes).toEqual([[null, 'ok', null]]);
    expect(b.end).toEqual({ offset: Buffer.byteLength(lines.join('\n')), line: 9 });
  });

  it('hashes reordered payload keys equally and matches the CSV hash of the same content', () => {
    const a =
      '{"device_id":"dev-1","timestamp":1709294400,"value":21.5,"data":{"x":1,"y":{"b":[1,2],"a":null}}}';
    const b =
      '{"data":{"y":{"a":null,"b":[1,2]},"x":1},"value":21.50,"timestamp":"2024-03-01T12:00:00Z","device_id":"dev-1"}';
    const c =
      '{"device_id":"dev-1","timestamp":1709294400,"value":21.5,"data":{"x":2,"y":{"b":[1,2],"a":null}}}';
    const h = decode(spec, [a, b, c].join('\n')).batches[0]!.hashes!;
    expect(h[0]).toBe(h[1]);
    expect(h[0]).not.toBe(h[2]);
    expect(h[0]).toBeGreaterThan(0);
    expect(h[0]).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
    const csv = decode(
      readings,
      'device_id,timestamp,value,status,count,data\ndev-1,1709294400,21.5,,,"{""y"":{""b"":[1,2],""a"":null},""x"":1}"\n',
    ).batches[0]!.hashes!;
    expect(csv[0]).toBe(h[0]);
    expect(contentHashOf(['dev-1'], 1709294400e6, [21.5, NaN], ['{"x":1,"y":{"a":null,"b":[1,2]}}'])).toBe(
      h[0],
    );
  });
});

describe('helpers', () => {
  it('canonical JSON sorts keys recursively and drops whitespace', () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: 'x' })).toBe('{"a":"x","b":[{"c":2,"d":1}]}');
    expect(canonicalizeJsonText(' { "y" : 2 , "x" : 1 } ')).toBe('{"x":1,"y":2}');
    expect(canonicalizeJsonText('{bad')).toBeUndefined();
  });

  it('parseDecimalText agrees with Number() on decimal text and refuses the rest', () => {
    for (const s of [
      '0',
      '-1.25',
      '+3',
      '.5',
      '5.',
      '1e-7',
      ' 12 ',
      '12345678901234567890',
      '0.30000000000000004',
    ]) {
      expect(parseDecimalText(s), s).toBe(Number(s));
    }
    for (const s of ['', '  ', 'x', '0x1f', '0o7', 'Infinity', 'NaN', '1_000', '1e400']) {
      expect(parseDecimalText(s), s).toBeNaN();
    }
  });
});

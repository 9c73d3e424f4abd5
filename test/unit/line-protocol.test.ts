import { Point } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import { parseLineProtocol, type LinePoint } from '../../src/ingest/formats/line-protocol.js';
import { datasetSchema, layoutOf } from '../../src/core/dataset.js';
import {
  autoDatasetSpec,
  columnNameOf,
  datasetNameOf,
  isoOfNs,
  translatePoints,
} from '../../src/ingest/writes/line-translation.js';

const one = (text: string): LinePoint => {
  const r = parseLineProtocol(text);
  expect(r.errors).toEqual([]);
  expect(r.points).toHaveLength(1);
  return r.points[0]!;
};
const error = (text: string): string => {
  const r = parseLineProtocol(text);
  expect(r.points).toEqual([]);
  expect(r.errors).toHaveLength(1);
  return r.errors[0]!.message;
};

describe('line protocol parser', () => {
  it('parses measurement, tags, every field type and the timestamp', () => {
    const p = one(
      'cpu,host=a,region=eu f=1.5,i=-42i,u=7u,s="hi",t=t,F=FALSE,e=-1.5e-3,n=3 1700000000000000000',
    );
    expect(p.measurement).toBe('cpu');
    expect(p.tags).toEqual([
      ['host', 'a'],
      ['region', 'eu'],
    ]);
    expect(Object.fromEntries(p.fields)).toEqual({
      f: { type: 'float', value: 1.5 },
      i: { type: 'integer', value: -42 },
      u: { type: 'unsigned', value: 7 },
      s: { type: 'string', value: 'hi' },
      t: { type: 'boolean', value: true },
      F: { type: 'boolean', value: false },
      e: { type: 'float', value: -0.0015 },
      n: { type: 'float', value: 3 },
    });
    expect(p.timestamp).toBe('1700000000000000000');
  });

  it('accepts every boolean spelling and float shape InfluxDB does', () => {
    for (const t of ['t', 'T', 'true', 'True', 'TRUE'])
      expect(one(`m b=${t}`).fields[0]![1].value).toBe(true);
    for (const f of ['f', 'F', 'false', 'False', 'FALSE'])
      expect(one(`m b=${f}`).fields[0]![1].value).toBe(false);
    for (const [text, v] of [
      ['1.', 1],
      ['.5', 0.5],
      ['1e3', 1000],
      ['1E+3', 1000],
      ['-0', -0],
    ] as const)
      expect(one(`m v=${text}`).fields[0]![1]).toEqual({ type: 'float', value: v });
  });

  it('unescapes measurement, tag and field-key escapes and quoted strings', () => {
    const p = one('my\\ meas\\,ure,ta\\ g\\=k=v\\,a\\ l\\=ue fi\\,eld\\ k\\=y="a \\"q\\" \\\\ b" 1');
    expect(p.measurement).toBe('my meas,ure');
    expect(p.tags).toEqual([['ta g=k', 'v,a l=ue']]);
    expect(p.fields).toEqual([['fi,eld k=y', { type: 'string', value: 'a "q" \\ b' }]]);
    // A backslash before another character is literal; `\\` is one backslash.
    expect(one('m\\x,t=a\\b v=1').measurement).toBe('m\\x');
    expect(one('m,t=a\\\\b v=1').tags).toEqual([['t', 'a\\b']]);
    expect(one('m,t=a\\b v=1').tags).toEqual([['t', 'a\\b']]);
    // `=` needs no escape in a measurement.
    expect(one('a=b v=1').measurement).toBe('a=b');
  });

  it('keeps commas, spaces, equals signs and newlines inside quoted strings', () => {
    const r = parseLineProtocol('m s="a, b=c d\nsecond line" 5\nm v=2 6\n');
    expect(r.errors).toEqual([]);
    expect(r.points.map((p) => p.fields[0]![1].value)).toEqual(['a, b=c d\nsecond line', 2]);
    expect(r.points.map((p) => p.line)).toEqual([1, 3]);
  });

  it('skips comments and blank lines, handles CRLF, and numbers lines', () => {
    const r = parseLineProtocol('# a comment\r\n\r\n  \nm v=1 1\r\n# another\nm v=2\n\n');
    expect(r.errors).toEqual([]);
    expect(r.points.map((p) => [p.line, p.timestamp])).toEqual([
      [4, '1'],
      [6, null],
    ]);
  });

  it('a repeated field key keeps its last value', () => {
    expect(one('m v=1,v=2').fields).toEqual([['v', { type: 'float', value: 2 }]]);
  });

  it('rejects malformed lines with a reason and goes on', () => {
    expect(error('m')).toMatch(/missing fields/);
    expect(error('m ')).toMatch(/missing field key/);
    expect(error(',t=a v=1')).toMatch(/missing measurement/);
    expect(error('m,t v=1')).toMatch(/missing tag value/);
    expect(error('m,t= v=1')).toMatch(/missing tag value/);
    expect(error('m,=a v=1')).toMatch(/missing tag key/);
    expect(error('m v=')).toMatch(/missing field value/);
    expect(error('m v')).toMatch(/missing field value/);
    expect(error('m v=abc')).toMatch(/bad field value/);
    expect(error('m v=1x')).toMatch(/bad field value/);
    expect(error('m v=NaN')).toMatch(/bad field value/);
    expect(error('m v=1.5i')).toMatch(/bad integer/);
    expect(error('m v=9223372036854775808i')).toMatch(/bad integer/);
    expect(error('m v=-1u')).toMatch(/bad unsigned/);
    expect(error('m v=18446744073709551616u')).toMatch(/bad unsigned/);
    expect(error('m v="open')).toMatch(/unterminated string/);
    expect(error('m v=1 12x')).toMatch(/bad timestamp/);
    expect(error('m v=1 99999999999999999999')).toMatch(/bad timestamp/);
    expect(error('m v=1 1 2')).toMatch(/after the timestamp/);
    expect(error('m,t=a=b v=1')).toMatch(/unescaped '='/);
    const r = parseLineProtocol('good v=1 1\nbad line\ngood v=2 2\n');
    expect(r.points.map((p) => p.line)).toEqual([1, 3]);
    expect(r.errors).toMatchObject([{ line: 2, raw: 'bad line' }]);
    expect(one('m v=9223372036854775807i').fields[0]![1].type).toBe('integer');
  });

  it('round-trips what the official InfluxDB client serialises (differential)', () => {
    // Characters that need escaping in some part of a line, plus plain ones. Backslashes next to
    // escapable characters are left out: the client does not escape backslashes, so such text is
    // ambiguous in line protocol itself.
    const alphabet = ['a', 'b', 'Z', '9', ' ', ',', '=', '"', '-', '.', 'é', '\\x'];
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const text = (min: number): string => {
      let s = '';
      const len = min + rand(6);
      for (let i = 0; i < len; i++) s += alphabet[rand(alphabet.length)];
      return s.replace(/^ +| +$/g, 'q'); // the client trims nothing, but keep ends readable
    };
    for (let n = 0; n < 500; n++) {
      const measurement = text(1).replace(/^#/, 'h');
      const point = new Point(measurement);
      const tags: [string, string][] = [];
      for (let t = rand(3); t > 0; t--) {
        const k = `k${t}${text(0)}`;
        const v = text(1);
        point.tag(k, v);
        tags.push([k, v]);
      }
      const expected: Record<string, unknown> = {};
      const fieldCount = 1 + rand(4);
      for (let f = 0; f < fieldCount; f++) {
        const k = `f${f}${text(0)}`;
        switch (rand(5)) {
          case 0: {
            const v = (rand(2000000) - 1000000) / 1000;
            point.floatField(k, v);
            expected[k] = { type: 'float', value: v };
            break;
          }
          case 1: {
            const v = rand(2000000) - 1000000;
            point.intField(k, v);
            expected[k] = { type: 'integer', value: v };
            break;
          }
          case 2: {
            const v = rand(1000000);
            point.uintField(k, v);
            expected[k] = { type: 'unsigned', value: v };
            break;
          }
          case 3: {
            const v = `${text(0)}\\${text(0)}\n${text(0)}`;
            point.stringField(k, v);
            expected[k] = { type: 'string', value: v };
            break;
          }
          default: {
            const v = rand(2) === 1;
            point.booleanField(k, v);
            expected[k] = { type: 'boolean', value: v };
          }
        }
      }
      const ts = String(1_600_000_000_000_000_000n + BigInt(rand(1_000_000_000)));
      point.timestamp(ts);
      const line = point.toLineProtocol()!;
      const parsed = one(line);
      expect(parsed.measurement, line).toBe(measurement);
      expect([...parsed.tags].sort(), line).toEqual(tags.sort((a, b) => (a[0] < b[0] ? -1 : 1)).sort());
      expect(Object.fromEntries(parsed.fields), line).toEqual(expected);
      expect(parsed.timestamp).toBe(ts);
    }
  });
});

describe('line protocol mapping', () => {
  it('names datasets and columns within the schema rules', () => {
    expect(datasetNameOf('cpu')).toBe('cpu');
    expect(datasetNameOf('CPU.load')).toBe('cpu_load');
    expect(datasetNameOf('9lives')).toBe('m_9lives');
    expect(columnNameOf('usage idle')).toBe('usage_idle');
    expect(columnNameOf('_start')).toBe('c_start');
    expect(columnNameOf('time')).toBe('time_');
  });

  it('formats nanosecond timestamps as RFC 3339 with microseconds', () => {
    expect(isoOfNs(1_700_000_000_123_456_789n)).toBe('2023-11-14T22:13:20.123456Z');
    expect(isoOfNs(0n)).toBe('1970-01-01T00:00:00.000000Z');
    expect(isoOfNs(-1n)).toBe('1969-12-31T23:59:59.999999Z');
  });

  it('creates a dataset from the tags and fields of every line of a measurement', () => {
    const points = parseLineProtocol('m,host=a v=1,s="x" 1\nm,host=b,dc=eu v=2i,ok=true 2\nn v=1').points;
    expect(autoDatasetSpec('m', points.slice(0, 2)).columns).toEqual([
      { name: 'host', type: 'string', role: 'key', required: true },
      { name: 'dc', type: 'string', role: 'key', required: true },
      { name: 'time', type: 'time', role: 'time', required: true },
      { name: 'v', type: 'number', role: 'field' },
      { name: 's', type: 'string', role: 'attribute' },
      { name: 'ok', type: 'boolean', role: 'attribute' },
    ]);
    // No tags: the measurement itself is the one key.
    expect(autoDatasetSpec('n', points.slice(2)).columns[0]).toMatchObject({
      name: 'measurement',
      role: 'key',
    });
  });

  it('maps points onto an existing dataset, rejecting or dropping unknown columns', () => {
    const layout = layoutOf(
      datasetSchema.parse({
        name: 'requests',
        columns: [
          { name: 'endpoint', role: 'key' },
          { name: 'timestamp', type: 'time', role: 'time' },
          { name: 'latency_ms', type: 'number', role: 'field' },
        ],
      }),
    );
    const points = parseLineProtocol(
      'requests,endpoint=/a latency_ms=5 1700000000\nrequests,endpoint=/b,x=1 latency_ms=6 1700000001',
    ).points;
    const opts = { precision: 's', nowNs: 0n };
    const rejected = translatePoints(layout, points, { ...opts, unknownColumns: 'reject' });
    expect(rejected.rejects).toMatchObject([{ line: 2 }]);
    expect(rejected.write.lines).toEqual([1]);
    expect(rejected.write.ndjson.toString()).toBe(
      '{"endpoint":"/a","latency_ms":5,"timestamp":"2023-11-14T22:13:20.000000Z"}\n',
    );
    const dropped = translatePoints(layout, points, { ...opts, unknownColumns: 'drop' });
    expect(dropped.rejects).toEqual([]);
    expect(dropped.write.lines).toEqual([1, 2]);
    expect(dropped.write.ndjson.toString().split('\n')[1]).toBe(
      '{"endpoint":"/b","latency_ms":6,"timestamp":"2023-11-14T22:13:21.000000Z"}',
    );
  });
});

import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { CsvScanner } from '../../src/ingest/formats/csv-scanner.js';

/** Splits a whole input with the scanner, skipping blank lines, as the decoder does. */
function scanAll(text: string, delimiter = ','): { cells: string[][]; lines: number[] } {
  const buf = Buffer.from(text, 'utf8');
  const scanner = new CsvScanner(delimiter);
  const cells: string[][] = [];
  const lines: number[] = [];
  let line = 0;
  let pos = 0;
  while (pos < buf.length) {
    const lf = scanner.scan(buf, pos, pos, buf.length);
    if (lf < 0) scanner.finishAtEof(buf.length);
    if (!scanner.isBlankLine()) {
      cells.push(scanner.allCells());
      lines.push(line + 1);
    }
    line += 1 + scanner.newlines;
    pos = lf < 0 ? buf.length : lf + 1;
  }
  return { cells, lines };
}

function makeRandom(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

const PIECES = ['a', 'b', 'Z', '0', '9', ' ', '"', ',', ';', '\t', '\n', '\r\n', 'é', '日本', '😀', '.', '-'];

function randomCell(rand: (n: number) => number): string {
  const len = rand(7);
  let out = '';
  for (let i = 0; i < len; i++) out += PIECES[rand(PIECES.length)];
  return out;
}

function randomCsv(rand: (n: number) => number, delimiter: string): string {
  const eol = rand(2) === 0 ? '\n' : '\r\n';
  const width = 2 + rand(4);
  const rows: string[] = [];
  for (let r = 0, n = 1 + rand(30); r < n; r++) {
    const cells: string[] = [];
    for (let c = 0; c < width; c++) {
      const v = randomCell(rand);
      const mustQuote = /["\r\n]/.test(v) || v.includes(delimiter) || v.startsWith(' ');
      cells.push(mustQuote || rand(4) === 0 ? `"${v.replaceAll('"', '""')}"` : v);
    }
    rows.push(cells.join(delimiter));
    if (rand(8) === 0) rows.push('');
  }
  return rows.join(eol) + (rand(2) === 0 ? eol : '');
}

describe('CsvScanner', () => {
  it('splits the same cells as csv-parse on random RFC 4180 input', () => {
    const rand = makeRandom(42);
    for (let k = 0; k < 400; k++) {
      const delimiter = [',', ';', '\t'][k % 3]!;
      const text = randomCsv(rand, delimiter);
      const expected = parse(text, {
        delimiter,
        relax_column_count: true,
        skip_empty_lines: true,
      }) as string[][];
      expect(scanAll(text, delimiter).cells, JSON.stringify(text)).toEqual(expected);
    }
  });

  it('counts lines across quoted newlines and blank lines', () => {
    const { cells, lines } = scanAll('a,b\n\n"x\ny",2\r\nlast,"q""q"');
    expect(cells).toEqual([
      ['a', 'b'],
      ['x\ny', '2'],
      ['last', 'q"q'],
    ]);
    expect(lines).toEqual([1, 3, 5]);
  });

  it('is lenient where RFC 4180 is silent', () => {
    expect(scanAll('ab"c,"d"e,""\n').cells).toEqual([['ab"c', 'de', '']]);
    expect(scanAll('"",x').cells).toEqual([['', 'x']]);
  });

  it('reports an unterminated quote and resumes a partial scan', () => {
    const scanner = new CsvScanner(',');
    const buf = Buffer.from('a,"b\nc');
    expect(scanner.scan(buf, 0, 0, buf.length)).toBe(-1);
    expect(scanner.inQuote).toBe(true);
    expect(scanner.newlines).toBe(1);
    // Resume the same row in a longer buffer, as the decoder does with carried bytes.
    const more = Buffer.from('a,"b\nc",d\n');
    expect(scanner.scan(more, 0, buf.length, more.length)).toBe(more.length - 1);
    expect(scanner.allCells()).toEqual(['a', 'b\nc', 'd']);
  });

  it('parses numbers from bytes exactly as Number() does', () => {
    const rand = makeRandom(9);
    const samples = [
      '0',
      '-0',
      '+1',
      '21.5',
      '.5',
      '5.',
      '1e3',
      '1.5E-7',
      ' 7 ',
      '123456789012345678',
      '0.1',
    ];
    for (let k = 0; k < 2000; k++) {
      samples.push(String((rand(2_000_000) - 1_000_000) / 10 ** rand(8)));
      samples.push(`${rand(100000)}.${String(rand(100000)).padStart(5, '0')}`);
    }
    const scanner = new CsvScanner(',');
    for (const s of samples) {
      const buf = Buffer.from(s + '\n');
      scanner.scan(buf, 0, 0, buf.length);
      expect(scanner.cellNumber(0), s).toBe(Number(s));
    }
    for (const bad of [
      '',
      ' ',
      'abc',
      '0x10',
      '0b1',
      'NaN',
      'Infinity',
      '-Infinity',
      '1,5',
      '1e',
      '--1',
      '1e999',
    ]) {
      const buf = Buffer.from(`"${bad}"\n`);
      scanner.scan(buf, 0, 0, buf.length);
      expect(scanner.cellNumber(0), bad).toBeNaN();
    }
  });

  it('flags rows that need the UTF-8 check', () => {
    const scanner = new CsvScanner(',');
    const good = Buffer.from('é,x\n');
    scanner.scan(good, 0, 0, good.length);
    expect(scanner.rowIsText()).toBe(true);
    expect(scanner.cellText(0)).toBe('é');
    const bad = Buffer.from([0x61, 0x2c, 0xff, 0xfe, 0x0a]);
    scanner.scan(bad, 0, 0, bad.length);
    expect(scanner.rowIsText()).toBe(false);
    const nul = Buffer.from([0x61, 0x00, 0x0a]);
    scanner.scan(nul, 0, 0, nul.length);
    expect(scanner.rowIsText()).toBe(false);
  });

  it('refuses delimiters it cannot scan for', () => {
    expect(() => new CsvScanner('"')).toThrow(/delimiter/);
    expect(() => new CsvScanner('ab')).toThrow(/delimiter/);
    expect(() => new CsvScanner('§')).toThrow(/delimiter/);
  });
});

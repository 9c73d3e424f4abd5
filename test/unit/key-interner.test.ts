import { describe, expect, it } from 'vitest';
import { KeyInterner } from '../../src/log/local/key-interner.js';

describe('KeyInterner', () => {
  it('leaves every value equal to what it was, for repeating and unique columns', () => {
    const interner = new KeyInterner();
    const repeating = Array.from({ length: 2000 }, (_, i) => `dev-${i % 7}`);
    const unique = Array.from({ length: 2000 }, (_, i) => `req-${i}`);
    for (const col of [repeating, unique]) {
      const want = [...col];
      interner.internInPlace(col);
      expect(col).toEqual(want);
    }
  });

  it('stays correct when its table fills and starts again', () => {
    const interner = new KeyInterner(10);
    for (let round = 0; round < 5; round++) {
      const col = Array.from({ length: 600 }, (_, i) => `k${(i * 7 + round) % 13}`);
      const want = [...col];
      interner.internInPlace(col);
      expect(col).toEqual(want);
    }
  });

  it('decodes ASCII columns from their bytes, repeating or not, equal to the values, across refills', () => {
    const interner = new KeyInterner(10);
    const columns = [
      Array.from({ length: 2000 }, (_, i) => `dev-${i % 7}`),
      Array.from({ length: 2000 }, (_, i) => `req-${i}`),
      // Same length and byte sum as each other: only a byte-by-byte check tells them apart.
      Array.from({ length: 600 }, (_, i) => (i % 2 === 0 ? 'ab' : 'ba')),
      Array.from({ length: 600 }, (_, i) => ['', 'x', `k${i % 13}`][i % 3]!),
    ];
    for (let round = 0; round < 2; round++) {
      for (const col of columns) {
        const bytes = Buffer.from(col.join(''), 'latin1');
        const lengths = Int32Array.from(col, (v) => v.length);
        // Values placed past the start of a larger buffer, as in a batch log record.
        const padded = Buffer.concat([Buffer.from('pad'), bytes]);
        expect(interner.fromAscii(padded, 3, lengths, col.length)).toEqual(col);
      }
    }
  });

  it('tells apart two ASCII values whose byte hashes collide', () => {
    // 'k32728' and 'k261234' share their 32-bit FNV-1a hash (0x92c402be).
    const interner = new KeyInterner();
    const col = Array.from({ length: 1000 }, (_, i) => ['k32728', 'k261234', 'dev-1'][i % 3]!);
    const bytes = Buffer.from(col.join(''), 'latin1');
    const lengths = Int32Array.from(col, (v) => v.length);
    for (let round = 0; round < 3; round++)
      expect(interner.fromAscii(bytes, 0, lengths, col.length)).toEqual(col);
  });
});

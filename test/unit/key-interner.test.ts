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
});

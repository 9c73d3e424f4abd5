import { describe, expect, it } from 'vitest';
import { DedupIndex, commitMask, dedupMask } from '../../src/apply/dedup-index.js';
import { mulberry32 } from '../../src/sim/random.js';

/** Random non-zero 53-bit hashes (one 32-bit draw alone would repeat after ~65k values). */
function hashSource(seed: number): () => number {
  const rand = mulberry32(seed);
  return () => Math.floor(rand() * 4294967296) * 2097152 + Math.floor(rand() * 2097152) || 1;
}

describe('DedupIndex', () => {
  it('agrees with a Set across many growths', () => {
    const next = hashSource(1);
    const index = new DedupIndex();
    const set = new Set<number>();
    const drawn: number[] = [];
    let sawMigration = false;
    // Mismatches are counted rather than asserted one by one: an expect per call costs more than the
    // index itself.
    let wrong = 0;
    for (let i = 0; i < 300_000; i++) {
      // A third of the calls repeat an earlier hash, some of them from tables since grown out of.
      const h = i > 0 && i % 3 === 0 ? drawn[Math.floor((drawn.length * (i % 97)) / 97)]! : next();
      drawn.push(h);
      if (index.add(h) !== !set.has(h)) wrong++;
      set.add(h);
      if (index.migrating) sawMigration = true;
      if (index.has(next())) wrong++;
      if (!index.has(drawn[i >> 1]!)) wrong++;
    }
    expect(wrong).toBe(0);
    expect(sawMigration).toBe(true);
    expect(index.size).toBe(set.size);
    for (const h of drawn) if (!index.has(h)) wrong++;
    expect(wrong).toBe(0);
  });

  it('finds every entry while a growth is being migrated, and adds no entry twice', () => {
    const next = hashSource(2);
    const index = new DedupIndex();
    const before: number[] = [];
    // Fill to just below the growth point of the 1024-slot table's successors.
    while (!index.migrating) {
      const h = next();
      index.add(h);
      before.push(h);
      if (before.length > 1_000_000) throw new Error('never migrated');
    }
    // 1024 and 2048 slots migrate within one call; keep going until a migration spans several.
    while (index.size < 100_000 || !index.migrating) {
      const h = next();
      index.add(h);
      before.push(h);
    }
    expect(index.migrating).toBe(true);
    const sizeAtStart = index.size;
    // Re-adding old entries during the migration finds them, wherever they are by now.
    let steps = 0;
    let wrong = 0;
    for (let i = 0; index.migrating; i = (i + 7919) % before.length) {
      if (index.add(before[i]!)) wrong++;
      if (!index.has(before[(i * 31) % before.length]!)) wrong++;
      steps++;
    }
    expect(wrong).toBe(0);
    expect(steps).toBeGreaterThan(1);
    expect(index.size).toBe(sizeAtStart);
    // Fresh entries added mid-migration stay found after it.
    const fresh: number[] = [];
    while (!index.migrating) {
      const h = next();
      fresh.push(h);
      if (!index.add(h)) wrong++;
    }
    while (index.migrating) {
      const h = next();
      fresh.push(h);
      if (!index.add(h)) wrong++;
      // Both halves stay visible mid-migration.
      if (!index.has(before[fresh.length % before.length]!)) wrong++;
      if (!index.has(fresh[fresh.length >> 1]!)) wrong++;
    }
    for (const h of before) if (!index.has(h)) wrong++;
    for (const h of fresh) if (!index.has(h)) wrong++;
    expect(wrong).toBe(0);
    expect(index.size).toBe(before.length + fresh.length);
  });

  it('keeps the worst single add short across 10M inserts', () => {
    const next = hashSource(3);
    const n = 10_000_000;
    const hashes = new Float64Array(n);
    for (let i = 0; i < n; i++) hashes[i] = next();
    const index = new DedupIndex();
    let worst = 0;
    let worstAt = 0;
    // Growth must be spread over many adds: count the adds during which each migration stays open.
    let migrations = 0;
    let shortestMigration = Infinity;
    let span = 0;
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      index.add(hashes[i]!);
      const took = performance.now() - t;
      if (took > worst) {
        worst = took;
        worstAt = i;
      }
      if (index.migrating) span++;
      else if (span > 0) {
        migrations++;
        shortestMigration = Math.min(shortestMigration, span);
        span = 0;
      }
    }
    const total = performance.now() - started;
    console.log(
      `dedup index: worst single add ${worst.toFixed(2)} ms (at insert ${worstAt}) over ${n} inserts, ` +
        `${total.toFixed(0)} ms in all`,
    );
    expect(index.size).toBe(n);
    expect(migrations).toBeGreaterThan(5);
    expect(shortestMigration).toBeGreaterThan(100);
    // A stop-the-world rehash at this size takes 200-300 ms on a quiet machine; this wall-clock bound
    // only catches a gross regression, since a loaded machine can stall any single call.
    expect(worst).toBeLessThan(1000);
  });
});

describe('dedupMask and commitMask', () => {
  it('keeps rows that are neither in the index nor repeated earlier in the batch', () => {
    const index = new DedupIndex();
    for (const h of [11, 22, 33]) index.add(h);
    const hashes = Float64Array.of(5, 11, 5, 6, 22, 7, 6, 44, 33, 44);
    const keep = dedupMask(index, hashes, hashes.length);
    expect([...keep]).toEqual([1, 0, 0, 1, 0, 1, 0, 1, 0, 0]);
    // The mask changes nothing until it is committed.
    expect(index.size).toBe(3);
    expect(index.has(5)).toBe(false);
    commitMask(index, hashes, keep);
    expect(index.size).toBe(7);
    for (const h of [5, 6, 7, 44, 11, 22, 33]) expect(index.has(h)).toBe(true);
    // The same batch again is all duplicates.
    expect([...dedupMask(index, hashes, hashes.length)]).toEqual(new Array(10).fill(0));
  });

  it('reads only the first `length` hashes', () => {
    const index = new DedupIndex();
    const keep = dedupMask(index, Float64Array.of(1, 2, 1, 3), 3);
    expect([...keep]).toEqual([1, 1, 0]);
    commitMask(index, Float64Array.of(1, 2, 1, 3), keep);
    expect(index.has(3)).toBe(false);
    expect(index.size).toBe(2);
  });

  it('matches a Set over many batches, through growths, with commits out of order', () => {
    const next = hashSource(4);
    const index = new DedupIndex();
    const set = new Set<number>();
    const recent: number[] = [];
    for (let b = 0; b < 120; b++) {
      const length = 1 + ((b * 977) % 5000);
      const hashes = new Float64Array(length + 3); // a longer buffer than the batch, as batches reuse
      for (let i = 0; i < length; i++) {
        const r = i % 5;
        hashes[i] =
          r === 0 && i > 0
            ? hashes[i - 1]!
            : r === 1 && recent.length > 0
              ? recent[(b * i) % recent.length]!
              : next();
      }
      // Another batch masked and committed between this mask and its commit: the remembered slots
      // of this one must then not be trusted blindly.
      const keep = dedupMask(index, hashes, length);
      const inBatch = new Set<number>();
      let wrong = 0;
      for (let i = 0; i < length; i++) {
        const h = hashes[i]!;
        if (keep[i] !== (!set.has(h) && !inBatch.has(h) ? 1 : 0)) wrong++;
        inBatch.add(h);
      }
      expect(wrong, `batch ${b}`).toBe(0);
      if (b % 4 === 3) {
        index.add(hashes[0]!);
        set.add(hashes[0]!);
      }
      if (b % 4 === 1) {
        const other = Float64Array.of(next(), hashes[0]!, next());
        const otherKeep = dedupMask(index, other, other.length);
        commitMask(index, other, otherKeep);
        other.forEach((h, i) => {
          if (otherKeep[i] === 1) set.add(h);
        });
      }
      commitMask(index, hashes, keep);
      for (let i = 0; i < length; i++) if (keep[i] === 1) set.add(hashes[i]!);
      expect(index.size, `batch ${b}`).toBe(set.size);
      for (let i = 0; i < length; i += 50) recent.push(hashes[i]!);
    }
    expect([...set].filter((h) => !index.has(h))).toEqual([]);
  });

  it('commits correctly when other adds took the free slots its mask remembered', () => {
    const next = hashSource(5);
    // 1024 slots hold 768 entries before growing: 300 + 400 stay in one table, so many of the
    // slots the mask found free are taken by the direct adds before the commit.
    const index = new DedupIndex();
    const batch = Float64Array.from({ length: 300 }, next);
    const keep = dedupMask(index, batch, batch.length);
    expect(keep.every((k) => k === 1)).toBe(true);
    const others = Array.from({ length: 400 }, next);
    for (const h of others) index.add(h);
    index.add(batch[7]!); // and one of the batch's own rows
    expect(index.migrating).toBe(false);
    commitMask(index, batch, keep);
    expect(index.size).toBe(700);
    for (const h of [...batch, ...others]) expect(index.has(h)).toBe(true);
    expect(index.add(batch[7]!)).toBe(false);
  });

  it('gives the same masks whether or not the batch before was committed', () => {
    const index = new DedupIndex();
    const a = Float64Array.of(1, 2, 3);
    const b = Float64Array.of(3, 4, 4);
    dedupMask(index, a, 3); // a mask that is never committed (the batch failed to apply)
    const keepB = dedupMask(index, b, 3);
    expect([...keepB]).toEqual([1, 1, 0]);
    commitMask(index, b, keepB);
    expect(index.size).toBe(2);
    expect([...dedupMask(index, a, 3)]).toEqual([1, 1, 0]);
  });
});

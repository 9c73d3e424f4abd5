import { describe, expect, it } from 'vitest';
import { DedupIndex } from '../../src/apply/dedup-index.js';
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

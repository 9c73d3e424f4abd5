import { describe, expect, it } from 'vitest';
import { Coalescer } from '../../src/core/coalescer.js';

/** A computation that resolves when told to, counting how many were started. */
function gated() {
  const gates: ((v: number) => void)[] = [];
  let started = 0;
  const compute = () =>
    new Promise<number>((resolve) => {
      const n = ++started;
      gates.push(() => resolve(n));
    });
  return { compute, open: () => gates.shift()!(0), started: () => started };
}

describe('Coalescer', () => {
  it('runs a lone request at once', async () => {
    const c = new Coalescer<number>();
    const g = gated();
    const p = c.run('k', g.compute);
    await Promise.resolve();
    expect(g.started()).toBe(1);
    g.open();
    expect(await p).toBe(1);
    expect(c.size).toBe(0);
  });

  it('answers requests that arrive during a run with one fresh follow-up run, not the running one', async () => {
    const c = new Coalescer<number>();
    const g = gated();
    const first = c.run('k', g.compute);
    await Promise.resolve();
    const later = [c.run('k', g.compute), c.run('k', g.compute), c.run('k', g.compute)];
    await Promise.resolve();
    expect(g.started()).toBe(1);
    g.open();
    expect(await first).toBe(1);
    // The follow-up started only after the first ended, so it saw everything applied before them.
    await Promise.resolve();
    expect(g.started()).toBe(2);
    g.open();
    expect(await Promise.all(later)).toEqual([2, 2, 2]);
    expect(c.size).toBe(0);
  });

  it('keeps keys apart', async () => {
    const c = new Coalescer<number>();
    const g = gated();
    const a = c.run('a', g.compute);
    const b = c.run('b', g.compute);
    await Promise.resolve();
    expect(g.started()).toBe(2);
    g.open();
    g.open();
    expect((await Promise.all([a, b])).sort()).toEqual([1, 2]);
  });

  it('gives a failure to the callers of that run only; waiting callers get their own run', async () => {
    const c = new Coalescer<number>();
    let calls = 0;
    let fail!: (e: Error) => void;
    const failing = () =>
      new Promise<number>((_, reject) => {
        calls++;
        fail = reject;
      });
    const first = c.run('k', failing);
    const second = c.run('k', async () => {
      calls++;
      return 7;
    });
    await Promise.resolve();
    fail(new Error('store down'));
    await expect(first).rejects.toThrow('store down');
    expect(await second).toBe(7);
    expect(calls).toBe(2);
    expect(c.size).toBe(0);
  });

  it('turns a synchronous throw into a rejection and frees the key', async () => {
    const c = new Coalescer<number>();
    await expect(
      c.run('k', () => {
        throw new Error('bad');
      }),
    ).rejects.toThrow('bad');
    expect(await c.run('k', async () => 3)).toBe(3);
  });
});

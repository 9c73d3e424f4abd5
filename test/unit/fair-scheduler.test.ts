import { describe, expect, it } from 'vitest';
import { FairScheduler, type SliceResult } from '../../src/ingest/fair-scheduler.js';

/** A fake upload processor: each upload has `left` bytes, and a turn consumes up to the budget. */
function harness(concurrency: number, quantum: number, sizes: Record<string, number>) {
  const left = { ...sizes };
  const order: string[] = [];
  const run = async (id: string, budget: number): Promise<SliceResult> => {
    await new Promise((r) => setImmediate(r));
    const bytes = Math.min(budget, left[id]!);
    left[id]! -= bytes;
    order.push(id);
    return { bytes, more: left[id]! > 0 };
  };
  return { scheduler: new FairScheduler(concurrency, quantum, run), order, left };
}

describe('FairScheduler (deficit round-robin on bytes)', () => {
  it('interleaves clients by bytes, so a small upload is not stuck behind a large one', async () => {
    const { scheduler, order, left } = harness(1, 100, { big: 10_000, small: 150 });
    scheduler.enqueue('big', 'a');
    scheduler.enqueue('small', 'b');
    await scheduler.idle();
    expect(left).toEqual({ big: 0, small: 0 });
    // The small upload finishes within its first two turns, long before the large one.
    expect(order.lastIndexOf('small')).toBeLessThan(5);
    expect(order.filter((x) => x === 'big').length).toBe(100);
  });

  it('gives a client with several uploads the same bytes per round as a client with one', async () => {
    const { scheduler, order } = harness(1, 100, { a1: 1000, a2: 1000, a3: 1000, b1: 1000 });
    for (const id of ['a1', 'a2', 'a3']) scheduler.enqueue(id, 'a');
    scheduler.enqueue('b1', 'b');
    await scheduler.idle();
    const firstTwenty = order.slice(0, 20);
    const b = firstTwenty.filter((x) => x === 'b1').length;
    expect(b).toBeGreaterThanOrEqual(9);
    expect(b).toBeLessThanOrEqual(11);
  });

  it('keeps scheduling after an idle client drops out of the round', async () => {
    const { scheduler, left } = harness(1, 100, { big: 1000, small: 50 });
    scheduler.enqueue('big', 'a');
    await new Promise((r) => setImmediate(r));
    scheduler.enqueue('small', 'b');
    await scheduler.idle();
    expect(left).toEqual({ big: 0, small: 0 });
  });

  it('runs an upload that got more bytes while running again, and merges repeated requests', async () => {
    const { scheduler, order, left } = harness(2, 1000, { t: 100 });
    scheduler.enqueue('t', 'a');
    scheduler.enqueue('t', 'a');
    left.t = 100;
    await scheduler.idle();
    expect(order.filter((x) => x === 't').length).toBeLessThanOrEqual(2);
    expect(scheduler.depth).toBe(0);
  });
});

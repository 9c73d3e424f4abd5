import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../src/core/semaphore.js';

describe('Semaphore', () => {
  it('lets at most its permits in at once, the rest in call order, and ignores a second release', async () => {
    const sem = new Semaphore(2);
    const order: string[] = [];
    const a = await sem.acquire();
    const b = await sem.acquire();
    const c = sem.acquire().then((release) => (order.push('c'), release));
    const d = sem.acquire().then((release) => (order.push('d'), release));
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual([]);
    a();
    a();
    const releaseC = await c;
    expect(order).toEqual(['c']);
    b();
    const releaseD = await d;
    expect(order).toEqual(['c', 'd']);
    releaseC();
    releaseD();
    const e = await sem.acquire();
    const f = await sem.acquire();
    e();
    f();
  });
});

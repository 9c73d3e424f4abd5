import { setImmediate as settle } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/connectors/clock.js';
import { RoundSlots } from '../../src/connectors/round-slots.js';
import { SlotDispatcher } from '../../src/connectors/slot-dispatcher.js';

/** A clock whose sleeps move it on at once; `sleeps` records every wait asked for. */
function steppingClock(start: number): Clock & { t: number; sleeps: number[] } {
  const c = {
    t: start,
    sleeps: [] as number[],
    now: () => c.t,
    sleep: async (ms: number, signal?: AbortSignal) => {
      signal?.throwIfAborted();
      c.sleeps.push(ms);
      c.t += ms;
    },
    realMs: (ms: number) => ms,
  };
  return c;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('RoundSlots', () => {
  it('spreads slots evenly and counts the due ones exactly at their boundaries', () => {
    const slots = new RoundSlots(60_000, 7, 60_000);
    expect(slots.stepMs).toBeCloseTo(60_000 / 7, 9);
    expect(slots.dueBy(59_999)).toBe(0);
    expect(slots.dueBy(60_000)).toBe(1);
    for (let i = 1; i < 7; i++) {
      const due = slots.dueAt(i);
      expect(slots.dueBy(due)).toBe(i + 1);
      expect(slots.dueBy(due - 1e-6)).toBe(i);
      expect(slots.dueBefore(due)).toBe(i);
      expect(slots.dueBefore(due + 1e-6)).toBe(i + 1);
    }
    expect(slots.dueBy(1e15)).toBe(7);
    expect(slots.dueBefore(0)).toBe(0);
  });

  it('agrees with dueAt for many slots at a fractional step', () => {
    const slots = new RoundSlots(1_700_000_040_000, 100_000, 60_000);
    for (const i of [0, 1, 3, 12_345, 33_333, 66_667, 99_999]) {
      expect(slots.dueBy(slots.dueAt(i))).toBe(i + 1);
      expect(slots.dueBefore(slots.dueAt(i))).toBe(i);
    }
  });

  it('has no slots to give when the round is empty', () => {
    const slots = new RoundSlots(0, 0, 60_000);
    expect(slots.dueBy(1e9)).toBe(0);
  });
});

describe('SlotDispatcher', () => {
  const signal = new AbortController().signal;

  it('starts every slot at or after its time and within a tick, waking once a tick, not once a slot', async () => {
    const clock = steppingClock(0);
    const slots = new RoundSlots(0, 1_000, 1_000);
    const late: number[] = [];
    const d = new SlotDispatcher({ clock, signal, concurrency: 8, tickMs: 10, giveUpAfterMs: 500 });
    await d.dispatch(
      slots,
      0,
      async (_i, due) => void late.push(clock.now() - due),
      () => expect.fail('nothing expires'),
    );
    expect(late).toHaveLength(1_000);
    expect(Math.min(...late)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...late)).toBeLessThanOrEqual(10);
    expect(clock.sleeps.length).toBeLessThanOrEqual(101);
  });

  it('sleeps until the next slot when slots are further apart than a tick', async () => {
    const clock = steppingClock(0);
    const late: number[] = [];
    const d = new SlotDispatcher({ clock, signal, concurrency: 8, tickMs: 10, giveUpAfterMs: 500 });
    await d.dispatch(
      new RoundSlots(0, 10, 1_000),
      0,
      async (_i, due) => void late.push(clock.now() - due),
      () => {},
    );
    expect(late).toEqual(new Array(10).fill(0));
    expect(clock.sleeps).toEqual(new Array(9).fill(100));
  });

  it('starts from a given slot, and never runs more than `concurrency` tasks', async () => {
    const clock = steppingClock(0);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const d = new SlotDispatcher({ clock, signal, concurrency: 3, tickMs: 1, giveUpAfterMs: 1e9 });
    await d.dispatch(
      new RoundSlots(0, 50, 50),
      20,
      async (i) => {
        started.push(i);
        most = Math.max(most, ++running);
        await settle();
        running--;
      },
      () => {},
    );
    await d.drain();
    expect(started).toEqual(Array.from({ length: 30 }, (_, k) => 20 + k));
    expect(most).toBe(3);
    expect(d.inFlight).toBe(0);
  });

  it('catches up on overdue slots as tasks end, without waiting for a tick', async () => {
    const clock = steppingClock(1_000);
    const tasks: { i: number; done: () => void }[] = [];
    const d = new SlotDispatcher({ clock, signal, concurrency: 2, tickMs: 10, giveUpAfterMs: 1e9 });
    const dispatching = d.dispatch(
      new RoundSlots(0, 6, 60),
      0,
      (i) => {
        const t = deferred();
        tasks.push({ i, done: t.resolve });
        return t.promise;
      },
      () => {},
    );
    await settle();
    expect(tasks.map((t) => t.i)).toEqual([0, 1]);
    for (let k = 0; k < 4; k++) {
      tasks[k]!.done();
      await settle();
      expect(tasks.map((t) => t.i)).toEqual(Array.from({ length: 3 + k }, (_, j) => j));
    }
    await dispatching;
    expect(clock.sleeps).toEqual([]);
    expect(clock.now()).toBe(1_000);
    tasks.forEach((t) => t.done());
    await d.drain();
  });

  it('does not start slots reached later than giveUpAfterMs; it hands them over as expired', async () => {
    const clock = steppingClock(0);
    const started: number[] = [];
    const expired: number[] = [];
    const gate = deferred();
    const d = new SlotDispatcher({ clock, signal, concurrency: 1, tickMs: 1, giveUpAfterMs: 25 });
    const dispatching = d.dispatch(
      new RoundSlots(0, 10, 100),
      0,
      async (i) => {
        started.push(i);
        if (i === 0) await gate.promise;
      },
      (i) => expired.push(i),
    );
    await settle();
    expect(started).toEqual([0]);
    // The first call hangs until 55 ms: slots 1 and 2 (due at 10 and 20) are more than 25 ms overdue by
    // then and are not started; slot 3 (due at 30) is 25 ms overdue, just still worth it.
    clock.t = 55;
    gate.resolve();
    await dispatching;
    await d.drain();
    expect(expired).toEqual([1, 2]);
    expect(started).toEqual([0, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('stops with an AbortError, and drain waits for the tasks still running', async () => {
    const clock = steppingClock(0);
    const stop = new AbortController();
    const running = deferred();
    let finished = false;
    const d = new SlotDispatcher({
      clock,
      signal: stop.signal,
      concurrency: 4,
      tickMs: 1,
      giveUpAfterMs: 1e9,
    });
    const dispatching = d.dispatch(
      new RoundSlots(0, 10, 100),
      0,
      async (i) => {
        if (i === 0) {
          stop.abort();
          await running.promise;
          finished = true;
        }
      },
      () => {},
    );
    await expect(dispatching).rejects.toMatchObject({ name: 'AbortError' });
    const draining = d.drain();
    await settle();
    expect(finished).toBe(false);
    running.resolve();
    await draining;
    expect(finished).toBe(true);
  });
});

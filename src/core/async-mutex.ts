/**
 * Runs async sections one at a time, in call order. A DuckDB connection holds one transaction, so
 * two interleaved sections on one connection would commit or roll back each other's work.
 */
export class AsyncMutex {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /** Sections queued or running; a pool uses it to pick the least busy connection. */
  get pending(): number {
    return this.waiting;
  }

  run<T>(section: () => Promise<T>): Promise<T> {
    this.waiting++;
    const result = this.tail.then(section).finally(() => {
      this.waiting--;
    });
    // The chain must survive a failed section, so the next one still runs.
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** A fixed set of resources, each guarded by its own mutex; work goes to the least busy one. */
export class MutexPool<R> {
  private readonly slots: { resource: R; mutex: AsyncMutex }[];

  constructor(resources: readonly R[]) {
    if (resources.length === 0) throw new Error('a pool needs at least one resource');
    this.slots = resources.map((resource) => ({ resource, mutex: new AsyncMutex() }));
  }

  get resources(): R[] {
    return this.slots.map((s) => s.resource);
  }

  run<T>(section: (resource: R) => Promise<T>): Promise<T> {
    let best = this.slots[0]!;
    for (const slot of this.slots) if (slot.mutex.pending < best.mutex.pending) best = slot;
    return best.mutex.run(() => section(best.resource));
  }

  /** Runs `section` on every resource once it is free, e.g. to close them all. */
  async forEach(section: (resource: R) => Promise<void>): Promise<void> {
    await Promise.all(this.slots.map((s) => s.mutex.run(() => section(s.resource))));
  }
}

interface Waiting<V> {
  compute: () => Promise<V>;
  promise: Promise<V>;
  resolve: (v: V) => void;
  reject: (e: unknown) => void;
}

/**
 * At most one computation per key at a time, shared by the callers that asked for it. A caller that
 * arrives while the key's computation runs does not join that one, which may have read the data
 * before the caller's own writes were applied: it waits for the next, which starts when the running
 * one ends and answers every caller that arrived meanwhile. So each answer is at least as fresh as
 * its request, and any number of identical requests cost at most one computation running and one
 * waiting, instead of a queue that grows with the request rate.
 */
export class Coalescer<V> {
  /** Keys with a computation running, and the callers waiting for the next one. */
  private readonly running = new Map<string, { next?: Waiting<V> }>();

  run(key: string, compute: () => Promise<V>): Promise<V> {
    const slot = this.running.get(key);
    if (slot === undefined) return this.start(key, compute);
    if (slot.next === undefined) {
      let resolve!: (v: V) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<V>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      slot.next = { compute, promise, resolve, reject };
    }
    return slot.next.promise;
  }

  /** Computations running now (for tests and metrics). */
  get size(): number {
    return this.running.size;
  }

  private start(key: string, compute: () => Promise<V>): Promise<V> {
    const slot: { next?: Waiting<V> } = {};
    this.running.set(key, slot);
    const result = Promise.resolve().then(compute);
    const after = (): void => {
      const next = slot.next;
      if (next === undefined) {
        this.running.delete(key);
        return;
      }
      this.start(key, next.compute).then(next.resolve, next.reject);
    };
    result.then(after, after);
    return result;
  }
}

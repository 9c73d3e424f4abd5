import { encodeBatch } from '../../src/log/local/batch-codec.js';
import { describe, it, expect, afterEach } from 'vitest';
import type { ColumnarBatch } from '../../src/core/batch.js';
import type { BatchLog } from '../../src/log/batch-log.js';
import { isSluiceError } from '../../src/core/errors.js';

/**
 * The BatchLog conformance suite. Every adapter runs it.
 *
 * `make` returns an initialised log over fresh, empty storage. `reopen` returns a new initialised log
 * over the same storage; the caller closes the previous log first. `cleanup` removes the storage.
 */
export interface BatchLogHarness {
  log: BatchLog;
  reopen: () => Promise<BatchLog>;
  cleanup: () => Promise<void>;
}

/** A batch with every field populated, including nulls, rejects and non-ASCII text. */
export function makeTestBatch(source: string, seq: number, rows: number): ColumnarBatch {
  const devices: string[] = [];
  const region: string[] = [];
  const timeUs = new Float64Array(rows);
  const value = new Float64Array(rows);
  const lines = new Float64Array(rows);
  const hashes = new Float64Array(rows);
  const payload: (string | null)[] = [];
  const note: (string | null)[] = [];
  const timeText: string[] = [];
  for (let i = 0; i < rows; i++) {
    devices.push(`dev-${seq}-${i % 17}`);
    region.push(i % 5 === 0 ? '' : `région-${i % 3}`);
    timeUs[i] = 1_700_000_000_000_000 + seq * 1_000_000 + i;
    value[i] = i % 7 === 0 ? NaN : i * 0.5 - 3;
    lines[i] = i + 2;
    hashes[i] = (i * 2654435761) % 2 ** 53;
    payload.push(i % 4 === 0 ? null : `{"n":${i},"s":"✓"}`);
    note.push(i % 3 === 0 ? null : i % 3 === 1 ? '' : 'note');
    timeText.push(`2023-11-14 22:13:${String(i % 60).padStart(2, '0')}`);
  }
  return {
    id: `${source}:${seq}`,
    dataset: 'readings',
    source,
    seq,
    length: rows,
    keys: [devices, region],
    timeUs,
    fields: [value, new Float64Array(rows).fill(seq)],
    payloads: [payload],
    attributes: [note],
    timeText,
    hashes,
    lines,
    totalRows: rows + 1,
    rejects: [{ line: rows + 2, reason: 'not_a_number', column: 'value', raw: 'dev-1,2023-11-14,abc' }],
    end: { offset: 1000 * (seq + 1), line: rows + 2 },
  };
}

function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() > deadline) reject(new Error('timed out waiting for condition'));
      else setTimeout(tick, 2);
    };
    tick();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with `value` after `ms`, or with 'pending' if `p` has not settled by then. */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([p, sleep(ms).then(() => 'pending' as const)]);
}

export function runBatchLogConformance(name: string, make: () => Promise<BatchLogHarness>): void {
  describe(`BatchLog conformance: ${name}`, () => {
    let current: BatchLogHarness | null = null;
    const open: BatchLog[] = [];
    const setup = async (): Promise<BatchLogHarness> => {
      current = await make();
      open.push(current.log);
      const reopen = current.reopen;
      return {
        ...current,
        reopen: async () => {
          const log = await reopen();
          open.push(log);
          return log;
        },
      };
    };
    afterEach(async () => {
      for (const log of open.splice(0)) await log.close();
      await current?.cleanup();
      current = null;
    });

    it('delivers batches in append order, each once, with their content', async () => {
      const { log } = await setup();
      const sent = Array.from({ length: 12 }, (_, i) => makeTestBatch('order', i, 20 + i));
      for (const b of sent.slice(0, 6)) await log.append(b);
      const got: ColumnarBatch[] = [];
      log.consume(async (b) => {
        got.push(b);
      });
      await Promise.all(sent.slice(6).map((b) => log.append(b)));
      await log.drained();
      expect(got.map((b) => b.id)).toStrictEqual(sent.map((b) => b.id));
      expect(got[3]!.keys).toStrictEqual(sent[3]!.keys);
      expect(Array.from(got[11]!.fields[0]!)).toStrictEqual(Array.from(sent[11]!.fields[0]!));
      expect(got[11]!.rejects).toStrictEqual(sent[11]!.rejects);
    });

    it('takes batches encoded elsewhere, in order with plain appends, across reopen', async () => {
      const h = await setup();
      const sent = Array.from({ length: 4 }, (_, i) => makeTestBatch('encoded', i, 30 + i));
      await h.log.append(sent[0]!);
      await h.log.appendEncoded(new Uint8Array(encodeBatch(sent[1]!)));
      await h.log.append(sent[2]!);
      await h.log.appendEncoded(new Uint8Array(encodeBatch(sent[3]!)));
      await h.log.close();
      const log = await h.reopen();
      const got: ColumnarBatch[] = [];
      log.consume(async (b) => {
        got.push(b);
      });
      await log.drained();
      expect(got.map((b) => b.id)).toStrictEqual(sent.map((b) => b.id));
      expect(got[3]!.keys).toStrictEqual(sent[3]!.keys);
      expect(Array.from(got[1]!.timeUs!)).toStrictEqual(Array.from(sent[1]!.timeUs!));
    });

    it('hands over groups of consecutive batches, and retries a failed group whole', async () => {
      const { log } = await setup();
      const sent = Array.from({ length: 10 }, (_, i) => makeTestBatch('group', i, 8));
      for (const b of sent) await log.append(b);
      const groups: string[][] = [];
      let failOnce = true;
      log.consumeGroups(async (batches) => {
        if (failOnce && groups.length === 1) {
          failOnce = false;
          throw new Error('store down');
        }
        expect(batches.length).toBeLessThanOrEqual(4);
        groups.push(batches.map((b) => b.id));
      }, 4);
      await log.drained();
      expect(groups.flat()).toStrictEqual(sent.map((b) => b.id));
      expect(groups[0]).toHaveLength(4);
    });

    it('pipelines groups that answer with a settling promise: two in flight, acknowledged in order', async () => {
      const h = await setup();
      const sent = Array.from({ length: 12 }, (_, i) => makeTestBatch('pipe', i, 8));
      for (const b of sent) await h.log.append(b);
      const handed: string[][] = [];
      const release: (() => void)[] = [];
      h.log.consumeGroups(async (batches) => {
        handed.push(batches.map((b) => b.id));
        const settled = new Promise<void>((resolve) => release.push(resolve));
        return { settled };
      }, 3);
      // The second group is handed over while the first is still settling, but not a third.
      await until(() => handed.length === 2);
      await sleep(100);
      expect(handed).toHaveLength(2);
      expect(h.log.stats().backlogBatches).toBe(12);
      release[0]!();
      await until(() => handed.length === 3);
      await until(() => h.log.stats().backlogBatches === 9);
      // Settling out of order still acknowledges in log order.
      release[2]!();
      await sleep(30);
      expect(h.log.stats().backlogBatches).toBe(9);
      release[1]!();
      await until(() => h.log.stats().backlogBatches <= 3);
      while (release.length < 4) await sleep(5);
      release[3]!();
      await h.log.drained();
      expect(handed.flat()).toStrictEqual(sent.map((b) => b.id));
    });

    it('delivers again from a group whose settling failed, with the groups after it', async () => {
      const h = await setup();
      const sent = Array.from({ length: 6 }, (_, i) => makeTestBatch('resettle', i, 8));
      for (const b of sent) await h.log.append(b);
      const handed: string[] = [];
      let failed = false;
      h.log.consumeGroups(async (batches) => {
        handed.push(...batches.map((b) => b.id));
        const first = batches[0]!.seq === 2 && !failed;
        if (first) failed = true;
        return { settled: first ? Promise.reject(new Error('recording failed')) : Promise.resolve() };
      }, 2);
      await h.log.drained();
      // resettle:2 and :3 failed to settle; they come again, after whatever was already handed over.
      const last = handed.lastIndexOf('resettle:2');
      expect(handed.indexOf('resettle:2')).toBeLessThan(last);
      expect(handed.slice(last)).toStrictEqual(['resettle:2', 'resettle:3', 'resettle:4', 'resettle:5']);
    });

    it('keeps appended batches across close and reopen', async () => {
      const h = await setup();
      const sent = Array.from({ length: 5 }, (_, i) => makeTestBatch('durable', i, 50));
      for (const b of sent) await h.log.append(b);
      await h.log.close();
      const log = await h.reopen();
      expect(log.stats().backlogBatches).toBe(5);
      const got: ColumnarBatch[] = [];
      log.consume(async (b) => {
        got.push(b);
      });
      await log.drained();
      expect(got.map((b) => b.id)).toStrictEqual(sent.map((b) => b.id));
      expect(got[4]!.payloads).toStrictEqual(sent[4]!.payloads);
      expect(got[4]!.timeText).toStrictEqual(sent[4]!.timeText);
      expect(Array.from(got[4]!.timeUs!)).toStrictEqual(Array.from(sent[4]!.timeUs!));
    });

    it('persists acknowledgements: after reopen only unacknowledged batches arrive', async () => {
      const h = await setup();
      for (let i = 0; i < 10; i++) await h.log.append(makeTestBatch('ack', i, 10));
      const first: string[] = [];
      h.log.consume(async (b) => {
        first.push(b.id);
        if (b.seq >= 5) throw new Error('store down');
      });
      await until(() => first.length >= 6);
      await h.log.close();
      expect(first.slice(0, 6)).toStrictEqual(['ack:0', 'ack:1', 'ack:2', 'ack:3', 'ack:4', 'ack:5']);
      const log = await h.reopen();
      expect(log.stats().backlogBatches).toBe(5);
      const second: string[] = [];
      log.consume(async (b) => {
        second.push(b.id);
      });
      await log.drained();
      expect(second).toStrictEqual(['ack:5', 'ack:6', 'ack:7', 'ack:8', 'ack:9']);
    });

    it('retries a batch whose handler throws, without skipping or reordering', async () => {
      const { log } = await setup();
      const seen: string[] = [];
      let failures = 0;
      log.consume(async (b) => {
        seen.push(b.id);
        if (b.seq === 1 && failures < 2) {
          failures++;
          throw new Error('transient');
        }
      });
      for (let i = 0; i < 3; i++) await log.append(makeTestBatch('retry', i, 5));
      await log.drained();
      expect(seen).toStrictEqual(['retry:0', 'retry:1', 'retry:1', 'retry:1', 'retry:2']);
    });

    it('finishes the in-flight handler on close, acknowledges it, and delivers nothing more', async () => {
      const h = await setup();
      for (let i = 0; i < 4; i++) await h.log.append(makeTestBatch('close', i, 5));
      const seen: string[] = [];
      let finished = 0;
      h.log.consume(async (b) => {
        seen.push(b.id);
        await sleep(40);
        finished++;
      });
      await until(() => seen.length === 1);
      await h.log.close();
      expect(seen).toStrictEqual(['close:0']);
      expect(finished).toBe(1);
      await sleep(20);
      expect(seen).toHaveLength(1);
      await expect(h.log.append(makeTestBatch('close', 9, 1))).rejects.toSatisfy(isSluiceError);
      const log = await h.reopen();
      const rest: string[] = [];
      log.consume(async (b) => {
        rest.push(b.id);
      });
      await log.drained();
      expect(rest).toStrictEqual(['close:1', 'close:2', 'close:3']);
    });

    it('drained() waits for every batch appended so far to be acknowledged', async () => {
      const { log } = await setup();
      await log.drained();
      for (let i = 0; i < 3; i++) await log.append(makeTestBatch('drain', i, 5));
      const drained = log.drained();
      expect(await settledWithin(drained, 30)).toBe('pending');
      let handled = 0;
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => (release = r));
      log.consume(async () => {
        if (handled === 2) await gate;
        handled++;
      });
      await until(() => handled === 2);
      expect(await settledWithin(drained, 30)).toBe('pending');
      release();
      await drained;
      expect(handled).toBe(3);
    });

    it('reports backlog and lag', async () => {
      const { log } = await setup();
      expect(log.stats()).toStrictEqual({ backlogBatches: 0, backlogBytes: 0, lagMs: 0 });
      for (let i = 0; i < 3; i++) await log.append(makeTestBatch('stats', i, 100));
      await sleep(30);
      const s = log.stats();
      expect(s.backlogBatches).toBe(3);
      expect(s.backlogBytes).toBeGreaterThan(3 * 100 * 8);
      expect(s.lagMs).toBeGreaterThanOrEqual(25);
      log.consume(async () => undefined);
      await log.drained();
      expect(log.stats()).toStrictEqual({ backlogBatches: 0, backlogBytes: 0, lagMs: 0 });
    });

    it('allows only one consumer', async () => {
      const { log } = await setup();
      log.consume(async () => undefined);
      expect(() => log.consume(async () => undefined)).toThrow();
    });
  });
}

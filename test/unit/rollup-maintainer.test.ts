import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import type { RollupDeltaSet } from '../../src/apply/rollups/rollup-accumulator.js';
import { cellOf } from '../../src/apply/rollups/cell-block.js';
import { RollupMaintainer, type RollupTarget } from '../../src/apply/rollups/rollup-maintainer.js';
import type { ColumnarBatch } from '../../src/core/batch.js';
import { datasetSchema, layoutOf } from '../../src/core/dataset.js';

const layout = layoutOf(
  datasetSchema.parse({
    name: 'r',
    columns: [
      { name: 'k', role: 'key' },
      { name: 'ts', type: 'time', role: 'time' },
      { name: 'v', type: 'number', role: 'field' },
    ],
    rollups: [{ by: ['k'], resolutions: ['1h'] }],
  }),
);
const HOUR = 3_600_000_000;
const END = { offset: 0, line: 0 };

function batchOf(seq: number, values: number[]): ColumnarBatch {
  const n = values.length;
  return {
    id: `u:${seq}`,
    dataset: 'r',
    source: 'u',
    seq,
    length: n,
    keys: [values.map(() => 'a')],
    timeUs: Float64Array.from(values.map(() => 10 * HOUR)),
    fields: [Float64Array.from(values)],
    payloads: [],
    attributes: [],
    timeText: null,
    hashes: null,
    lines: Float64Array.from(values.map((_, i) => i + 1)),
    totalRows: n,
    rejects: [],
    end: END,
  };
}

/** A target that records merged sums and watermarks, failing the merges it is told to. */
function recordingTarget(failMerges: number) {
  const merged: { sum: number; rows: number; throughSeq: number }[] = [];
  let failures = failMerges;
  const target: RollupTarget = {
    lastSeq: () => Promise.resolve(0),
    rollupWatermark: () => Promise.resolve(0),
    scan: () => Promise.resolve(),
    mergeRollups: (_layout, deltas: RollupDeltaSet, throughSeq) => {
      if (failures-- > 0) return Promise.reject(new Error('store down'));
      const block = deltas[0]!.blocks['1h']!;
      let sum = 0;
      let rows = 0;
      for (let c = 0; c < block.size; c++) {
        const cell = cellOf(block, c);
        sum += cell.fields[0]!.sum;
        rows += cell.rows;
      }
      merged.push({ sum, rows, throughSeq });
      return Promise.resolve();
    },
  };
  return { target, merged };
}

function maintainer(target: RollupTarget, maxPendingRows = 1_000_000, flushIntervalMs = 60_000) {
  return new RollupMaintainer({
    target,
    log: pino({ level: 'silent' }),
    metrics: new Registry(),
    options: { flushIntervalMs, maxPendingRows },
  });
}

/** A recording target whose merges wait until `release()`, as a store busy with a large flush would. */
function gatedTarget() {
  const { target, merged } = recordingTarget(0);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const merge = target.mergeRollups;
  const counts = { merges: 0 };
  target.mergeRollups = async (...args) => {
    counts.merges++;
    await gate;
    return merge(...args);
  };
  const rows = () => merged.reduce((n, x) => n + x.rows, 0);
  return { target, rows, release, counts };
}

describe('RollupMaintainer', () => {
  it('folds batches as they come and merges each row once, through a failed flush', async () => {
    const { target, merged } = recordingTarget(1);
    const m = maintainer(target);
    m.enqueue(layout, batchOf(1, [1, 2]), undefined, 1);
    m.enqueue(layout, batchOf(2, [3]), Uint8Array.from([0]), 2);
    await expect(m.flush()).rejects.toThrow('store down');
    // Rows that arrive after the failure go to a fold of their own, merged after the retried one.
    m.enqueue(layout, batchOf(3, [10, 20]), undefined, 3);
    await m.flush();
    expect(merged).toEqual([
      { sum: 3, rows: 2, throughSeq: 2 },
      { sum: 30, rows: 2, throughSeq: 3 },
    ]);
    await m.flush();
    expect(merged).toHaveLength(2);
  });

  it('holds appends back while rollups are four times their pending bound behind, and not otherwise', async () => {
    const { target, rows, release } = gatedTarget();
    const m = maintainer(target, 10);
    for (let seq = 1; seq <= 7; seq++) m.enqueue(layout, batchOf(seq, [1, 1, 1, 1, 1]), undefined, seq);
    // 35 rows queued, under 4 × 10: an append goes ahead at once.
    await m.admit();
    m.enqueue(layout, batchOf(8, [1, 1, 1, 1, 1]), undefined, 8);
    let admitted = false;
    const waiting = m.admit().then(() => (admitted = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(admitted).toBe(false);
    release();
    await waiting;
    expect(rows()).toBe(40);
  });

  it('starts no flush behind a running one unless the pending bound is still passed when it ends', async () => {
    const { target, rows, release, counts } = gatedTarget();
    const m = maintainer(target, 10);
    // Ten rows reach the bound and start a flush; five more arrive while it runs and ask again.
    m.enqueue(layout, batchOf(1, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), undefined, 1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(counts.merges).toBe(1);
    m.enqueue(layout, batchOf(2, [1, 1, 1, 1, 1]), undefined, 2);
    m.enqueue(layout, batchOf(3, [1, 1, 1, 1, 1]), undefined, 3);
    await new Promise((resolve) => setTimeout(resolve, 10));
    release();
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Ten rows were queued when the first flush ended (the bound): one more flush took them.
    expect(counts.merges).toBe(2);
    expect(rows()).toBe(20);
    // Under the bound, nothing is queued behind a flush: the two rows wait for the timer.
    m.enqueue(layout, batchOf(4, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), undefined, 4);
    await new Promise((resolve) => setTimeout(resolve, 10));
    m.enqueue(layout, batchOf(5, [1, 1]), undefined, 5);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(counts.merges).toBe(3);
    expect(rows()).toBe(30);
    await m.flush();
    expect(rows()).toBe(32);
  });

  it('queues no timer flush behind a running one: the next tick takes the rows that came meanwhile', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const { target, rows, release, counts } = gatedTarget();
      const m = maintainer(target, 1000, 1000);
      m.start();
      const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
      m.enqueue(layout, batchOf(1, [1, 1, 1]), undefined, 1);
      vi.advanceTimersByTime(1000);
      await settle();
      expect(counts.merges).toBe(1);
      // Rows arrive and the timer ticks while that flush waits on the store.
      m.enqueue(layout, batchOf(2, [1, 1]), undefined, 2);
      vi.advanceTimersByTime(1000);
      release();
      await settle();
      expect(counts.merges).toBe(1);
      vi.advanceTimersByTime(1000);
      await settle();
      expect(counts.merges).toBe(2);
      expect(rows()).toBe(5);
      await m.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not hold appends back when the flush fails', async () => {
    const { target } = recordingTarget(1_000);
    const m = maintainer(target, 1);
    for (let seq = 1; seq <= 4; seq++) m.enqueue(layout, batchOf(seq, [1, 2]), undefined, seq);
    await m.admit();
  });

  it("forgets a dropped dataset's pending rows", async () => {
    const { target, merged } = recordingTarget(0);
    const m = maintainer(target);
    m.enqueue(layout, batchOf(1, [1]), undefined, 1);
    await m.forget('r');
    await m.flush();
    expect(merged).toEqual([]);
  });
});

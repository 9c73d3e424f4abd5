import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RollupQuery, RollupGroup } from '../../src/store/series-store.js';
import { planStepped, planWindow } from '../../src/query/analytics/rollup-window.js';
import { auth, startHarness, upload, waitForUpload, type Harness } from '../helpers/harness.js';
import { requestRows, requestsCsv, type RequestRow } from '../helpers/requests-data.js';

/**
 * Rollup reads answered from memory (`LiveRollups`) return what the store's rollup read returns, for
 * windows that reach into cells kept in memory, cells read from the store in blocks, and days past
 * retention; after late rows into blocks already read; after a restart; and a level with more series
 * than `rollups.live_series` goes back to the store.
 */
const MIN_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const NOW = Date.now();
let h: Harness;
let dataDir: string;

function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

const layout = () => h.sluice.registry.get('requests').layout;

/** Groups in one order, with their exact parts; sums are compared apart (addition order differs). */
function normalized(groups: readonly RollupGroup[]) {
  return groups
    .map((g) => ({
      id: `${g.group.join('|')}@${g.bucketUs}`,
      rows: g.rows,
      exact: g.fields.map((f) => [f.count, f.min, f.max]),
      sums: g.fields.flatMap((f) => [f.sum, f.sumSq]),
    }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** A query's live answer against the store's; the live one must exist. */
async function expectSame(q: RollupQuery, label: string): Promise<void> {
  const live = h.sluice.live.read(layout(), q);
  expect(live, `${label}: memory should answer`).toBeDefined();
  const [mem, stored] = await Promise.all([live!, h.sluice.series.readRollups(layout(), q)]);
  const a = normalized(mem);
  const b = normalized(stored);
  expect(
    a.map(({ sums: _, ...g }) => g),
    label,
  ).toEqual(b.map(({ sums: _, ...g }) => g));
  a.forEach((g, i) =>
    g.sums.forEach((x, j) =>
      expect(Math.abs(x - b[i]!.sums[j]!), label).toBeLessThanOrEqual(1e-9 * Math.abs(x)),
    ),
  );
}

const groupings: { groupBy: string[]; keys: Record<string, string[]> }[] = [
  { groupBy: ['endpoint'], keys: {} },
  { groupBy: ['status_code'], keys: {} },
  { groupBy: ['user_id'], keys: {} },
  { groupBy: [], keys: {} },
  { groupBy: ['endpoint'], keys: { endpoint: ['/login', '/cart'] } },
];

/** Random windows ending near now, and a few far back, each grouping, plain and stepped. */
async function compareMany(seed: number, label: string): Promise<number> {
  const rand = rng(seed);
  let n = 0;
  const lengths = [
    HOUR_MS,
    6 * HOUR_MS,
    DAY_MS,
    2 * DAY_MS,
    7 * DAY_MS,
    30 * DAY_MS,
    45 * DAY_MS,
    400 * DAY_MS,
  ];
  for (const length of lengths)
    for (let i = 0; i < 3; i++) {
      const toMs = NOW - Math.floor(rand() * 3 * DAY_MS) + Math.floor(rand() * HOUR_MS);
      const w = planWindow((toMs - length) * 1000, toMs * 1000);
      const g = groupings[(i + lengths.indexOf(length)) % groupings.length]!;
      const q: RollupQuery = { segments: w.segments, ...g, fields: ['latency_ms'], sketches: false };
      // Windows reaching more than four cold blocks deep are left to the store; skip those.
      if (h.sluice.live.read(layout(), q) === undefined) continue;
      await expectSame(q, `${label} ${length / HOUR_MS}h to ${new Date(toMs).toISOString()} by ${g.groupBy}`);
      n++;
    }
  // Windows whose first stretch is in the cold blocks the late rows below go to.
  for (const fromMs of [NOW - 30 * HOUR_MS + 10 * MIN_MS, NOW - 36 * DAY_MS + 3 * HOUR_MS]) {
    const w = planWindow(fromMs * 1000, NOW * 1000);
    await expectSame(
      { segments: w.segments, groupBy: ['endpoint'], keys: {}, fields: ['latency_ms'], sketches: false },
      `${label} from ${new Date(fromMs).toISOString()}`,
    );
    n++;
  }
  for (const stepMs of [HOUR_MS, DAY_MS]) {
    const s = planStepped((NOW - 20 * HOUR_MS) * 1000, NOW * 1000, stepMs * 1000);
    await expectSame(
      {
        segments: s.segments,
        groupBy: ['endpoint'],
        keys: {},
        fields: ['latency_ms'],
        stepUs: stepMs * 1000,
        sketches: false,
      },
      `${label} stepped ${stepMs / HOUR_MS}h`,
    );
    n++;
  }
  const year = planStepped((NOW - 400 * DAY_MS) * 1000, NOW * 1000, DAY_MS * 1000);
  await expectSame(
    {
      segments: year.segments,
      groupBy: [],
      keys: {},
      fields: ['latency_ms'],
      stepUs: DAY_MS * 1000,
      sketches: false,
    },
    `${label} daily history`,
  );
  return n + 1;
}

async function send(rows: RequestRow[]): Promise<void> {
  const up = await upload(h.app, 'requests', requestsCsv(rows));
  expect((await waitForUpload(h.app, up.id)).rows.valid).toBe(rows.length);
  await h.sluice.settle();
}

beforeAll(async () => {
  h = await startHarness();
  dataDir = h.dataDir;
  // Dense rows over the last two days (minute cells in memory and cold), sparse ones over the last
  // 40 days (cold hour cells) and a few 370 days back (past rollup retention).
  await send([
    ...requestRows(4000, NOW - 2 * DAY_MS, 2 * DAY_MS, 11),
    ...requestRows(3000, NOW - 40 * DAY_MS, 38 * DAY_MS, 12),
    ...requestRows(200, NOW - 370 * DAY_MS, 2 * DAY_MS, 13),
  ]);
}, 60_000);

afterAll(async () => {
  await h.close();
});

describe('rollup reads from memory', () => {
  it('answer as the store does, in memory and from cold blocks', async () => {
    expect(await compareMany(1, 'first')).toBeGreaterThan(20);
    expect(h.sluice.live.cellCount).toBeGreaterThan(0);
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics', headers: auth })).body;
    expect(metrics).toMatch(new RegExp(`sluice_live_rollup_cells ${h.sluice.live.cellCount}\\b`));
  });

  it('take late rows into blocks already read', async () => {
    await compareMany(2, 'before late rows');
    // Into cold minute cells (30 hours ago), cold hour cells (36 days ago) and live ones.
    await send([
      ...requestRows(300, NOW - 30 * HOUR_MS, 2 * HOUR_MS, 21),
      ...requestRows(300, NOW - 36 * DAY_MS + 2 * HOUR_MS, DAY_MS, 22),
      ...requestRows(300, NOW - 10 * MIN_MS, 10 * MIN_MS, 23),
    ]);
    await compareMany(2, 'after late rows');
  });

  it('drop what retention drops', async () => {
    const runs = await h.sluice.retention.run();
    expect(runs.find((r) => r.dataset === 'requests')!.rollupRowsDropped).toBeGreaterThan(0);
    await compareMany(3, 'after retention');
  });

  it('are rebuilt from the store at start', async () => {
    await h.close();
    h = await startHarness({ dataDir });
    await compareMany(4, 'after restart');
  });

  it('leave a level with too many series to the store', async () => {
    await h.close();
    h = await startHarness({ dataDir, config: { rollups: { live_series: 10 } } });
    const w = planWindow((NOW - DAY_MS) * 1000, NOW * 1000);
    const base = { segments: w.segments, keys: {}, fields: ['latency_ms'], sketches: false };
    // The shipped levels: 40 users and 28 endpoint and status pairs are over the limit, 7 endpoints not.
    expect(h.sluice.live.read(layout(), { ...base, groupBy: ['user_id'] })).toBeUndefined();
    expect(h.sluice.live.read(layout(), { ...base, groupBy: ['status_code'] })).toBeUndefined();
    await expectSame({ ...base, groupBy: ['endpoint'] }, 'endpoints under the limit');
    // Sketches (p95) always come from the store.
    expect(h.sluice.live.read(layout(), { ...base, groupBy: ['endpoint'], sketches: true })).toBeUndefined();
  });
});

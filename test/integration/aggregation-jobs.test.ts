import { afterEach, describe, expect, it } from 'vitest';
import { auth, startHarness, tempDir, upload, waitForUpload, type Harness } from '../helpers/harness.js';
import { requestRows, requestsCsv } from '../helpers/requests-data.js';

/** Aggregation jobs are kept in the MetaStore: one left unfinished by a stop runs at the next start. */
const DAY_MS = 86_400_000;
const START_MS = (Math.floor(Date.now() / DAY_MS) - 2) * DAY_MS;
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('aggregation jobs across a restart', () => {
  it('runs a job that was still queued when the server stopped', async () => {
    const dataDir = tempDir();
    h = await startHarness({ dataDir });
    const rows = requestRows(500, START_MS + 1000, 2 * DAY_MS, 5);
    const up = await upload(h.app, 'requests', requestsCsv(rows));
    await waitForUpload(h.app, up.id);
    await h.sluice.settle();
    // As if the server had stopped right after accepting it.
    const request = {
      dataset: 'requests',
      from: new Date(START_MS).toISOString(),
      to: new Date(START_MS + 2 * DAY_MS).toISOString(),
      metrics: ['count'],
    };
    await h.sluice.meta.createJob({
      id: 'agg_left',
      kind: 'aggregation',
      client: null,
      input: JSON.stringify(request),
    });
    await h.close();

    h = await startHarness({ dataDir });
    let job: any;
    for (let i = 0; i < 100; i++) {
      job = (await h.app.inject({ method: 'GET', url: '/v1/aggregations/agg_left', headers: auth })).json();
      if (job.status === 'done') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(job.status).toBe('done');
    expect(job.result.rows).toEqual([{ group: {}, values: { count: rows.length } }]);
  });
});

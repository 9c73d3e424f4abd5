import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/core/errors.js';
import { readingsFile } from '../../src/sim/readings-file.js';
import { auth, startHarness, upload, waitForUpload, type Harness } from '../helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ config: { ingest: { workers: 1, batch_rows: 2048 } as never } });
});
afterAll(async () => {
  await h.close();
});

/** The version files of a replace-mode dataset, as on disk. */
function versionFiles(dataDir: string, dataset = 'promotions'): string[] {
  const dir = path.join(dataDir, 'records', dataset);
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

function promotions(n: number, price: number): string {
  let out = '';
  for (let i = 1; i <= n; i++) out += `${i},${(price + i / 100).toFixed(2)},2030-01-01 00:00:00 +0000 UTC\n`;
  return out;
}

describe('upload lifecycle', () => {
  it('cancels an append upload: status cancelled, the rest of the file is not processed', async () => {
    const body = [...readingsFile({ rows: 400_000, seed: 3 })].join('');
    const up = await upload(h.app, 'readings', body);
    const res = await h.app.inject({ method: 'DELETE', url: `/v1/uploads/${up.id}`, headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('cancelled');
    const report = await waitForUpload(h.app, up.id);
    expect(report.status).toBe('cancelled');
    await h.sluice.settle();
    expect(report.rows.total).toBeLessThan(400_000);
    const again = await h.app.inject({ method: 'DELETE', url: `/v1/uploads/${up.id}`, headers: auth });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('upload_finished');
  });

  it('keeps the current replace-mode version when the next upload is cancelled', async () => {
    await waitForUpload(h.app, (await upload(h.app, 'promotions', promotions(1000, 1))).id);
    const big = await upload(h.app, 'promotions', promotions(300_000, 50));
    // Until the new version is published, readers see the old one.
    expect((await h.app.inject({ method: 'GET', url: '/promotions/7', headers: auth })).json().price).toBe(
      1.07,
    );
    await h.app.inject({ method: 'DELETE', url: `/v1/uploads/${big.id}`, headers: auth });
    expect((await waitForUpload(h.app, big.id)).status).toBe('cancelled');
    await h.sluice.settle();
    expect((await h.app.inject({ method: 'GET', url: '/promotions/7', headers: auth })).json().price).toBe(
      1.07,
    );
    expect((await h.app.inject({ method: 'GET', url: '/promotions/5000', headers: auth })).statusCode).toBe(
      404,
    );
    const stats = await h.app.inject({ method: 'GET', url: '/v1/datasets/promotions/stats', headers: auth });
    expect(stats.json().fields.price.count).toBe(1000);
    expect(await h.sluice.meta.listVersions('promotions')).toHaveLength(1);
    // The cancelled build's file is deleted; only the current version's is left.
    const current = await h.sluice.meta.currentVersion('promotions');
    expect(versionFiles(h.dataDir)).toEqual([`v${current}.sqlite`]);
  });

  it('deletes the old version file after the swap, so the disk holds one version', async () => {
    const before = await h.sluice.meta.currentVersion('promotions');
    const first = versionFiles(h.dataDir);
    expect(first).toEqual([`v${before}.sqlite`]);
    const next = await upload(h.app, 'promotions', promotions(20_000, 7));
    expect((await waitForUpload(h.app, next.id)).status).toBe('done');
    const after = await h.sluice.meta.currentVersion('promotions');
    expect(after).toBeGreaterThan(before!);
    expect(versionFiles(h.dataDir)).toEqual([`v${after}.sqlite`]);
    expect(
      (await h.app.inject({ method: 'GET', url: '/promotions/19999', headers: auth })).json().price,
    ).toBe(206.99);
  });

  it('lists uploads by dataset and status, newest first, with pagination', async () => {
    const a = await upload(h.app, 'readings', 'device_id,timestamp,value\nl-1,2024-01-01T00:00:00Z,1\n');
    const b = await upload(h.app, 'readings', 'device_id,timestamp,value\nl-1,2024-01-01T00:01:00Z,1\n');
    await waitForUpload(h.app, b.id);
    const page = await h.app.inject({
      method: 'GET',
      url: '/v1/uploads?dataset=readings&status=done&limit=1',
      headers: auth,
    });
    expect(page.json().uploads.map((u: any) => u.id)).toEqual([b.id]);
    const next = await h.app.inject({
      method: 'GET',
      url: `/v1/uploads?dataset=readings&status=done&limit=1&before=${page.json().next}`,
      headers: auth,
    });
    expect(next.json().uploads.map((u: any) => u.id)).toEqual([a.id]);
    const bad = await h.app.inject({ method: 'GET', url: '/v1/uploads?status=nope', headers: auth });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('validation_failed');
  });
});

describe('dedup of JSON payloads', () => {
  it('stores a telematics packet once when only its key order differs, and keeps distinct packets', async () => {
    const body =
      [
        '{"car_id":"c1","rtc_time":"2024-06-01T00:00:00Z","data":{"speed":10,"fuel":{"a":1,"b":2}}}',
        '{"data":{"fuel":{"b":2,"a":1},"speed":10},"rtc_time":"2024-06-01T00:00:00Z","car_id":"c1"}',
        '{"car_id":"c1","rtc_time":"2024-06-01T00:00:00Z","data":{"rpm":900}}',
      ].join('\n') + '\n';
    const up = await upload(h.app, 'telematics', body, { 'content-type': 'application/x-ndjson' });
    const report = await waitForUpload(h.app, up.id);
    expect(report.rows).toEqual({ total: 3, valid: 2, invalid: 0, duplicate: 1 });
    const again = await upload(h.app, 'telematics', body, { 'content-type': 'application/x-ndjson' });
    expect((await waitForUpload(h.app, again.id)).rows).toEqual({
      total: 3,
      valid: 0,
      invalid: 0,
      duplicate: 3,
    });
    const series = await h.app.inject({
      method: 'GET',
      url: '/v1/datasets/telematics/series?car_id=c1',
      headers: auth,
    });
    expect(series.statusCode).toBe(200);
  });
});

describe('malformed API requests', () => {
  it('answers bad JSON and wrong content types on JSON endpoints with problem+json', async () => {
    const badJson = await h.app.inject({
      method: 'POST',
      url: '/v1/datasets',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json().code).toBe('bad_request');
    const wrongType = await h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { ...auth, 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect(wrongType.statusCode).toBe(415);
    expect(wrongType.json().code).toBe('unsupported_media_type');
    const badRole = await h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: auth,
      payload: { name: 'x', role: 'root' },
    });
    expect(badRole.statusCode).toBe(400);
    expect(badRole.json().code).toBe('validation_failed');
    const badStep = await h.app.inject({
      method: 'GET',
      url: '/v1/datasets/readings/series?step=fortnight',
      headers: auth,
    });
    expect(badStep.json().code).toBe('bad_query');
    const replaceSeries = await h.app.inject({
      method: 'GET',
      url: '/v1/datasets/promotions/series',
      headers: auth,
    });
    expect(replaceSeries.json().code).toBe('unsupported_for_mode');
  });
});

describe('replace-mode versions at start', () => {
  it('drops versions that nothing will publish', async () => {
    const h2 = await startHarness();
    const dir = h2.dataDir;
    await waitForUpload(h2.app, (await upload(h2.app, 'promotions', promotions(10, 1))).id);
    const { layout } = h2.sluice.registry.get('promotions');
    const orphan = await h2.sluice.meta.nextVersion('promotions');
    await h2.sluice.meta.beginVersion(layout, orphan);
    expect(await h2.sluice.meta.listVersions('promotions')).toHaveLength(2);
    expect(versionFiles(dir)).toHaveLength(2);
    await h2.close();
    const h3 = await startHarness({ dataDir: dir });
    try {
      expect(await h3.sluice.meta.listVersions('promotions')).toHaveLength(1);
      expect(versionFiles(dir)).toEqual([`v${await h3.sluice.meta.currentVersion('promotions')}.sqlite`]);
      expect((await h3.app.inject({ method: 'GET', url: '/promotions/3', headers: auth })).json().price).toBe(
        1.03,
      );
    } finally {
      await h3.close();
    }
  });
});

describe('a batch the store keeps refusing', () => {
  it('fails its upload after a few tries, and the uploads behind it still go through', async () => {
    const h2 = await startHarness();
    try {
      const original = h2.sluice.series.appendMany.bind(h2.sluice.series);
      let poisoned = true;
      h2.sluice.series.appendMany = async (layout, items) => {
        if (poisoned && items.some((i) => i.batch.dataset === 'readings')) {
          throw new SluiceError('internal', 'refused');
        }
        return original(layout, items);
      };
      const bad = await upload(h2.app, 'readings', 'device_id,timestamp,value\np-1,2024-01-01T00:00:00Z,1\n');
      const report = await waitForUpload(h2.app, bad.id);
      expect(report.status).toBe('failed');
      expect(report.error).toMatch(/applying failed 5 times: refused/);
      poisoned = false;
      const good = await upload(
        h2.app,
        'readings',
        'device_id,timestamp,value\np-2,2024-01-01T00:00:00Z,1\n',
      );
      expect((await waitForUpload(h2.app, good.id)).status).toBe('done');
    } finally {
      await h2.close();
    }
  });
});

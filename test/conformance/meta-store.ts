import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { isSluiceError } from '../../src/core/errors.js';
import type { KeyedRecord, MetaStore, UploadStatus } from '../../src/store/meta-store.js';
import {
  apiKey,
  compositeBatch,
  compositeLayout,
  expirationUs,
  newUpload,
  promoBatch,
  promoRows,
  promotionsLayout,
  promotionsSpec,
  reject,
} from './fixtures.js';

/**
 * The MetaStore conformance suite. Every adapter runs it.
 *
 * `make` returns an initialised store over fresh, empty storage. After each test the suite closes the
 * store and then calls `cleanup`, which removes the storage.
 */
export interface MetaStoreHarness {
  store: MetaStore;
  cleanup: () => Promise<void>;
  /** Closes `store` and opens a new one over the same storage (durable adapters only). */
  reopen?: () => Promise<MetaStore>;
  /** Whether a version still holds storage (a file, a table), for adapters that can tell. */
  versionStorageExists?: (dataset: string, version: number) => boolean;
}

/**
 * Records an applied batch's outcome for its upload, as the Applier does after `applyKeyedBatch`:
 * the store writes the version, the report row is the caller's.
 */
async function applyAndRecord(
  store: MetaStore,
  layout: ReturnType<typeof promotionsLayout>,
  version: number,
  batch: Parameters<MetaStore['applyKeyedBatch']>[2],
): Promise<Awaited<ReturnType<MetaStore['applyKeyedBatch']>>> {
  const result = await store.applyKeyedBatch(layout, version, batch);
  await store.recordBatch(batch.source, batch.seq, result.outcome, batch.rejects);
  return result;
}

async function lookup(
  store: MetaStore,
  keys: string[],
  layout = promotionsLayout(),
): Promise<KeyedRecord | undefined> {
  // The port lets adapters answer synchronously or with a promise; await covers both.
  return await store.getRecord(layout, keys);
}

/** Which rows of an applied batch the store kept, as 0/1 per row (`keep` undefined: all of them). */
function kept(result: { keep?: Uint8Array }, rows: number): number[] {
  return result.keep === undefined ? new Array<number>(rows).fill(1) : [...result.keep];
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isSluiceError(e) ? e.code : `non-sluice error: ${String(e)}`;
  }
  return 'no error';
}

export function runMetaStoreConformance(name: string, make: () => Promise<MetaStoreHarness>): void {
  describe(`MetaStore conformance: ${name}`, () => {
    let store: MetaStore;
    let cleanup: () => Promise<void>;
    let harness: MetaStoreHarness;

    beforeEach(async () => {
      harness = await make();
      ({ store, cleanup } = harness);
    });

    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    describe('datasets', () => {
      it('puts, lists, upserts and deletes datasets', async () => {
        expect(await store.listDatasets()).toEqual([]);
        const spec = promotionsSpec();
        await store.putDataset(spec);
        await store.putDataset(promotionsSpec('other'));
        const listed = await store.listDatasets();
        expect(listed.map((d) => d.spec.name).sort()).toEqual(['other', 'promotions']);
        const stored = listed.find((d) => d.spec.name === 'promotions')!;
        expect(stored.spec).toEqual(spec);
        expect(typeof stored.createdAt).toBe('number');

        const changed = { ...spec, dedup: 'none' as const };
        await store.putDataset(changed);
        const after = await store.listDatasets();
        expect(after).toHaveLength(2);
        const updated = after.find((d) => d.spec.name === 'promotions')!;
        expect(updated.spec).toEqual(changed);
        expect(updated.createdAt).toBe(stored.createdAt);

        expect(await store.deleteDataset('promotions')).toBe(true);
        expect(await store.deleteDataset('promotions')).toBe(false);
        expect((await store.listDatasets()).map((d) => d.spec.name)).toEqual(['other']);
      });
    });

    describe('uploads', () => {
      it('creates an upload with every field and its initial progress', async () => {
        const row = newUpload({
          id: 'u1',
          dataset: 'promotions',
          format: 'ndjson',
          contentType: 'application/x-ndjson',
          filename: null,
          idempotencyKey: 'idem-1',
          version: 7,
        });
        const before = Date.now();
        const { upload, created } = await store.createUpload(row);
        expect(created).toBe(true);
        expect(upload).toEqual({
          ...row,
          status: 'receiving',
          bytesReceived: 0,
          receiveComplete: false,
          committed: { offset: 0, line: 0 },
          nextSeq: 0,
          batchCount: null,
          error: null,
          createdAt: upload.createdAt,
          receivedAt: null,
          startedAt: null,
          finishedAt: null,
          protocol: 'http',
          uploadLength: null,
        });
        expect(upload.createdAt).toBeGreaterThanOrEqual(before - 1000);
        expect(await store.getUpload('u1')).toEqual(upload);
        expect(await store.getUpload('nope')).toBeUndefined();
      });

      it('is idempotent on (client, idempotencyKey) and only then', async () => {
        const first = await store.createUpload(newUpload({ id: 'a', client: 'c1', idempotencyKey: 'k' }));
        const again = await store.createUpload(newUpload({ id: 'b', client: 'c1', idempotencyKey: 'k' }));
        expect(again.created).toBe(false);
        expect(again.upload).toEqual(first.upload);
        expect(await store.getUpload('b')).toBeUndefined();

        // another client may use the same key
        expect(
          (await store.createUpload(newUpload({ id: 'c', client: 'c2', idempotencyKey: 'k' }))).created,
        ).toBe(true);
        // uploads without a key never collide
        expect((await store.createUpload(newUpload({ id: 'd', client: 'c1' }))).created).toBe(true);
        expect((await store.createUpload(newUpload({ id: 'e', client: 'c1' }))).created).toBe(true);
        expect((await store.listUploads({})).map((u) => u.id).sort()).toEqual(['a', 'c', 'd', 'e']);
      });

      it('patches only the given fields', async () => {
        await store.createUpload(newUpload({ id: 'u' }));
        await store.updateUpload('u', { status: 'processing', bytesReceived: 1234, receiveComplete: true });
        await store.updateUpload('u', {
          committed: { offset: 1000, line: 42 },
          nextSeq: 3,
          batchCount: 5,
          receivedAt: 10,
          startedAt: 11,
        });
        let u = (await store.getUpload('u'))!;
        expect(u).toMatchObject({
          status: 'processing',
          bytesReceived: 1234,
          receiveComplete: true,
          committed: { offset: 1000, line: 42 },
          nextSeq: 3,
          batchCount: 5,
          receivedAt: 10,
          startedAt: 11,
          finishedAt: null,
          error: null,
        });
        await store.updateUpload('u', {
          status: 'failed',
          error: 'boom',
          finishedAt: 12,
          receiveComplete: false,
        });
        u = (await store.getUpload('u'))!;
        expect(u).toMatchObject({
          status: 'failed',
          error: 'boom',
          finishedAt: 12,
          receiveComplete: false,
          nextSeq: 3,
        });
        await store.updateUpload('u', { batchCount: null, error: null });
        expect(await store.getUpload('u')).toMatchObject({ batchCount: null, error: null, status: 'failed' });
      });

      it('fails with upload_not_found when updating an unknown upload', async () => {
        expect(await errorCode(store.updateUpload('missing', { status: 'done' }))).toBe('upload_not_found');
      });

      it('lists newest first with filters and `before` pagination', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 12; i++) {
          const id = `u${String(i).padStart(2, '0')}`;
          ids.push(id);
          await store.createUpload(
            newUpload({ id, dataset: i % 2 === 0 ? 'even' : 'odd', client: i % 3 === 0 ? 'c0' : 'cx' }),
          );
        }
        await store.updateUpload('u04', { status: 'done' });
        await store.updateUpload('u07', { status: 'done' });
        const newestFirst = [...ids].reverse();

        expect((await store.listUploads({})).map((u) => u.id)).toEqual(newestFirst);
        expect((await store.listUploads({ limit: 3 })).map((u) => u.id)).toEqual(newestFirst.slice(0, 3));
        expect((await store.listUploads({ dataset: 'odd' })).map((u) => u.id)).toEqual(
          newestFirst.filter((id) => Number(id.slice(1)) % 2 === 1),
        );
        expect((await store.listUploads({ client: 'c0', dataset: 'even' })).map((u) => u.id)).toEqual([
          'u06',
          'u00',
        ]);
        expect((await store.listUploads({ status: 'done' })).map((u) => u.id)).toEqual(['u07', 'u04']);
        expect((await store.listUploads({ before: 'u05' })).map((u) => u.id)).toEqual([
          'u04',
          'u03',
          'u02',
          'u01',
          'u00',
        ]);
        expect((await store.listUploads({ before: 'u00' })).map((u) => u.id)).toEqual([]);

        const walked: string[] = [];
        let before: string | undefined;
        for (;;) {
          const page = await store.listUploads({ limit: 5, before, dataset: 'even' });
          if (page.length === 0) break;
          walked.push(...page.map((u) => u.id));
          before = page[page.length - 1].id;
        }
        expect(walked).toEqual(newestFirst.filter((id) => Number(id.slice(1)) % 2 === 0));
      });

      it('returns unfinished uploads: receiving, queued and processing', async () => {
        const statuses: UploadStatus[] = ['receiving', 'queued', 'processing', 'done', 'failed', 'cancelled'];
        for (const status of statuses) {
          await store.createUpload(newUpload({ id: status }));
          await store.updateUpload(status, { status });
        }
        expect((await store.unfinishedUploads()).map((u) => u.id).sort()).toEqual(
          ['processing', 'queued', 'receiving'].sort(),
        );
      });
    });

    describe('batch outcomes and rejects', () => {
      it('records a batch once; a replay returns false and changes no count', async () => {
        const outcome = { batchId: 'u:0', total: 10, valid: 7, invalid: 2, duplicate: 1 };
        const rejects = [reject(3), reject(9, 'bad_time', 'timestamp')];
        expect(await store.recordBatch('u', 0, outcome, rejects)).toBe(true);
        expect(await store.recordBatch('u', 0, outcome, rejects)).toBe(false);
        expect(await store.recordBatch('u', 0, { ...outcome, valid: 100 }, [reject(4)])).toBe(false);
        expect(await store.uploadCounts('u')).toEqual({
          total: 10,
          valid: 7,
          invalid: 2,
          duplicate: 1,
          batches: 1,
          rejectsByReason: { not_a_number: 1, bad_time: 1 },
        });
        expect(await store.listRejects('u', { limit: 100 })).toEqual(rejects);
      });

      it('sums batches and groups rejects by reason; other uploads are separate', async () => {
        await store.recordBatch('u', 1, { batchId: 'u:1', total: 5, valid: 3, invalid: 2, duplicate: 0 }, [
          reject(12, 'missing_key', 'id'),
          reject(14),
        ]);
        await store.recordBatch('u', 0, { batchId: 'u:0', total: 6, valid: 4, invalid: 1, duplicate: 1 }, [
          reject(5),
        ]);
        await store.recordBatch('v', 0, { batchId: 'v:0', total: 1, valid: 0, invalid: 1, duplicate: 0 }, [
          reject(2, 'column_count', null),
        ]);
        expect(await store.uploadCounts('u')).toEqual({
          total: 11,
          valid: 7,
          invalid: 3,
          duplicate: 1,
          batches: 2,
          rejectsByReason: { missing_key: 1, not_a_number: 2 },
        });
        expect(await store.uploadCounts('nobody')).toEqual({
          total: 0,
          valid: 0,
          invalid: 0,
          duplicate: 0,
          batches: 0,
          rejectsByReason: {},
        });
        expect(await store.listRejects('v', { limit: 10 })).toEqual([reject(2, 'column_count', null)]);
      });

      it('pages rejects in line order from an exclusive afterLine', async () => {
        // recorded out of line order across batches
        await store.recordBatch('u', 1, { batchId: 'u:1', total: 3, valid: 0, invalid: 3, duplicate: 0 }, [
          reject(20),
          reject(22),
          reject(25),
        ]);
        await store.recordBatch('u', 0, { batchId: 'u:0', total: 3, valid: 0, invalid: 3, duplicate: 0 }, [
          reject(2),
          reject(7),
          reject(11, 'out_of_range'),
        ]);
        const lines = async (afterLine: number | undefined, limit: number): Promise<number[]> =>
          (await store.listRejects('u', { afterLine, limit })).map((r) => r.line);
        expect(await lines(undefined, 4)).toEqual([2, 7, 11, 20]);
        expect(await lines(7, 2)).toEqual([11, 20]);
        expect(await lines(20, 10)).toEqual([22, 25]);
        expect(await lines(25, 10)).toEqual([]);
        expect(await lines(undefined, 0)).toEqual([]);
        expect((await store.listRejects('u', { afterLine: 7, limit: 1 }))[0]).toEqual(
          reject(11, 'out_of_range'),
        );

        const all: number[] = [];
        let after: number | undefined;
        for (;;) {
          const page = await store.listRejects('u', { afterLine: after, limit: 2 });
          if (page.length === 0) break;
          all.push(...page.map((r) => r.line));
          after = page[page.length - 1].line;
        }
        expect(all).toEqual([2, 7, 11, 20, 22, 25]);
      });
    });

    describe('API keys', () => {
      it('creates, finds by hash, lists and deletes keys', async () => {
        const admin = apiKey({ id: 'k1', role: 'admin', createdAt: 1 });
        const scoped = apiKey({
          id: 'k2',
          role: 'reader',
          datasets: ['readings', 'promotions'],
          createdAt: 2,
        });
        await store.createKey(admin);
        await store.createKey(scoped);
        expect(await store.getKeyByHash(admin.hash)).toEqual(admin);
        expect(await store.getKeyByHash(scoped.hash)).toEqual(scoped);
        expect(await store.getKeyByHash('0'.repeat(64))).toBeUndefined();
        expect(await store.listKeys()).toEqual([admin, scoped]);
        expect(await store.deleteKey('k1')).toBe(true);
        expect(await store.deleteKey('k1')).toBe(false);
        expect(await store.getKeyByHash(admin.hash)).toBeUndefined();
        expect(await store.listKeys()).toEqual([scoped]);
      });

      it('refuses a second key with the same hash', async () => {
        await store.createKey(apiKey({ id: 'k1', hash: 'f'.repeat(64) }));
        await expect(store.createKey(apiKey({ id: 'k2', hash: 'f'.repeat(64) }))).rejects.toThrow();
        expect((await store.listKeys()).map((k) => k.id)).toEqual(['k1']);
      });
    });

    describe('replace-mode records', () => {
      const layout = promotionsLayout();

      it('hands out increasing version numbers per dataset', async () => {
        const a1 = await store.nextVersion('promotions');
        const a2 = await store.nextVersion('promotions');
        const b1 = await store.nextVersion('other');
        expect(a2).toBeGreaterThan(a1);
        expect(typeof b1).toBe('number');
        await store.beginVersion(layout, a2 + 5);
        expect(await store.nextVersion('promotions')).toBeGreaterThan(a2 + 5);
      });

      it('begins versions idempotently and lists them', async () => {
        expect(await store.listVersions('promotions')).toEqual([]);
        await store.beginVersion(layout, 2);
        await store.beginVersion(layout, 2);
        await store.beginVersion(layout, 10);
        await store.beginVersion(promotionsLayout('promotions_v'), 3);
        expect(await store.listVersions('promotions')).toEqual([2, 10]);
        expect(await store.listVersions('promotions_v')).toEqual([3]);
        expect(await store.currentVersion('promotions')).toBeNull();
      });

      it('stores every column of a record and reads it from the published version', async () => {
        await store.beginVersion(layout, 1);
        const batch = promoBatch({
          source: 'up1',
          seq: 0,
          rows: [
            {
              id: 'a',
              price: 9.99,
              stock: 4,
              expiration: '2030-02-01 10:00',
              meta: '{"tag":"x"}',
              currency: 'EUR',
              line: 2,
            },
            { id: 'b', price: -1.5, line: 3 },
          ],
          rejects: [reject(4)],
        });
        const { applied, outcome } = await store.applyKeyedBatch(layout, 1, batch);
        expect(applied).toBe(true);
        expect(outcome).toEqual({ batchId: 'up1:0', total: 3, valid: 2, invalid: 1, duplicate: 0 });
        // The report is the caller's to record: a store that recorded it too would make the caller's
        // recordBatch answer "not new", and the upload would never count the batch.
        expect(await store.uploadCounts('up1')).toMatchObject({ batches: 0, total: 0 });
        expect(await store.recordBatch('up1', 0, outcome, batch.rejects)).toBe(true);

        // not visible before publish
        expect(await lookup(store, ['a'])).toBeUndefined();
        expect(await store.publishVersion('promotions', 1)).toBeNull();
        expect(await store.currentVersion('promotions')).toBe(1);

        expect(await lookup(store, ['a'])).toEqual({
          keys: ['a'],
          timeUs: expirationUs('2030-02-01 10:00'),
          timeText: '2030-02-01 10:00',
          fields: [9.99, 4],
          payloads: ['{"tag":"x"}'],
          attributes: ['EUR'],
          line: 2,
        });
        expect(await lookup(store, ['b'])).toEqual({
          keys: ['b'],
          timeUs: null,
          timeText: '',
          fields: [-1.5, null],
          payloads: [null],
          attributes: [null],
          line: 3,
        });
        expect(await lookup(store, ['zzz'])).toBeUndefined();

        expect(await store.uploadCounts('up1')).toEqual({
          total: 3,
          valid: 2,
          invalid: 1,
          duplicate: 0,
          batches: 1,
          rejectsByReason: { not_a_number: 1 },
        });
        expect(await store.listRejects('up1', { limit: 10 })).toEqual([reject(4)]);
      });

      it('replaying an applied batch changes nothing and returns the recorded outcome', async () => {
        await store.beginVersion(layout, 1);
        const batch = promoBatch({ source: 'up1', seq: 0, rows: promoRows(5), rejects: [reject(9)] });
        const first = await applyAndRecord(store, layout, 1, batch);
        await store.publishVersion('promotions', 1);
        const before = await lookup(store, ['p2']);

        // same id, different content: still a replay
        const replay = promoBatch({
          source: 'up1',
          seq: 0,
          rows: promoRows(8, { price: 1 }),
          rejects: [reject(9)],
        });
        const again = await applyAndRecord(store, layout, 1, replay);
        expect(again).toEqual({ applied: false, outcome: first.outcome });
        expect(await lookup(store, ['p2'])).toEqual(before);
        expect(await lookup(store, ['p6'])).toBeUndefined();
        expect(await store.uploadCounts('up1')).toMatchObject({ total: 6, valid: 5, invalid: 1, batches: 1 });
        expect(await store.listRejects('up1', { limit: 10 })).toHaveLength(1);
      });

      it('counts duplicate keys within and across batches; the first row wins', async () => {
        await store.beginVersion(layout, 1);
        const b0 = promoBatch({
          source: 'up',
          seq: 0,
          rows: [
            { id: 'x', price: 1, line: 2 },
            { id: 'y', price: 2, line: 3 },
            { id: 'x', price: 3, line: 4 },
          ],
        });
        const b1 = promoBatch({
          source: 'up',
          seq: 1,
          rows: [
            { id: 'y', price: 4, line: 5 },
            { id: 'z', price: 5, line: 6 },
          ],
        });
        const r0 = await applyAndRecord(store, layout, 1, b0);
        expect(r0.outcome).toEqual({
          batchId: 'up:0',
          total: 3,
          valid: 2,
          invalid: 0,
          duplicate: 1,
        });
        expect(kept(r0, 3)).toEqual([1, 1, 0]);
        const r1 = await applyAndRecord(store, layout, 1, b1);
        expect(r1.outcome).toEqual({
          batchId: 'up:1',
          total: 2,
          valid: 1,
          invalid: 0,
          duplicate: 1,
        });
        expect(kept(r1, 2)).toEqual([0, 1]);
        await store.publishVersion('promotions', 1);
        expect((await lookup(store, ['x']))?.fields[0]).toBe(1);
        expect((await lookup(store, ['y']))?.fields[0]).toBe(2);
        expect((await lookup(store, ['z']))?.line).toBe(6);
        expect(await store.uploadCounts('up')).toMatchObject({
          total: 5,
          valid: 3,
          duplicate: 2,
          batches: 2,
        });
      });

      it('keeps the first row of each key in a large batch with many repeats', async () => {
        await store.beginVersion(layout, 1);
        const rows = Array.from({ length: 300 }, (_, i) => ({ id: `k${i % 70}`, price: i, line: i + 2 }));
        const result = await store.applyKeyedBatch(layout, 1, promoBatch({ source: 'r', seq: 0, rows }));
        expect(result.outcome).toMatchObject({ total: 300, valid: 70, duplicate: 230 });
        expect(kept(result, 300)).toEqual(rows.map((_, i) => (i < 70 ? 1 : 0)));
        // A second batch: kept rows are the keys the version did not have yet.
        const more = Array.from({ length: 200 }, (_, i) => ({ id: `k${60 + i}`, price: -i, line: 400 + i }));
        const second = await store.applyKeyedBatch(
          layout,
          1,
          promoBatch({ source: 'r', seq: 1, rows: more }),
        );
        expect(second.outcome).toMatchObject({ valid: 190, duplicate: 10 });
        expect(kept(second, 200)).toEqual(more.map((_, i) => (i < 10 ? 0 : 1)));
        await store.publishVersion('promotions', 1);
        for (let k = 0; k < 70; k++) expect((await lookup(store, [`k${k}`]))?.fields[0]).toBe(k);
        expect((await lookup(store, ['k75']))?.fields[0]).toBe(-15);
        let stored = 0;
        await store.scanRecords(layout, 1, (records) => (stored += records.length));
        expect(stored).toBe(260);
      });

      it('finds the records whose columns equal given values, in key order, from the current version', async () => {
        expect(await store.findRecords(layout, { currency: 'EUR' }, 10)).toEqual([]);
        await store.beginVersion(layout, 1);
        const rows = promoRows(30).map((r, i) => ({
          ...r,
          currency: i % 3 === 0 ? 'EUR' : 'USD',
          stock: i % 2,
        }));
        await store.applyKeyedBatch(layout, 1, promoBatch({ source: 'f', seq: 0, rows }));
        await store.publishVersion('promotions', 1);
        const eur = await store.findRecords(layout, { currency: 'EUR' }, 100);
        const want = rows.filter((r) => r.currency === 'EUR').map((r) => r.id);
        expect(eur.map((r) => r.keys[0])).toEqual([...want].sort());
        const both = await store.findRecords(layout, { currency: 'EUR', stock: '1' }, 100);
        expect(both.map((r) => r.keys[0]).sort()).toEqual(
          rows
            .filter((r) => r.currency === 'EUR' && r.stock === 1)
            .map((r) => r.id)
            .sort(),
        );
        expect(await store.findRecords(layout, { id: 'p4' }, 10)).toMatchObject([
          { keys: ['p4'], fields: [4.25, 0] },
        ]);
        expect(await store.findRecords(layout, { currency: 'EUR' }, 2)).toHaveLength(2);
        expect(await errorCode(store.findRecords(layout, { nope: 'x' }, 10))).toBe('bad_query');
        expect(await errorCode(store.findRecords(layout, { price: 'abc' }, 10))).toBe('bad_query');
        const composite = compositeLayout();
        await store.beginVersion(composite, 1);
        const batch = compositeBatch('c', 0, [
          ['eu', 'a', 1],
          ['eu', 'b', 2],
          ['eu2', 'a', 3],
          ['us', 'a', 4],
        ]);
        await store.applyKeyedBatch(composite, 1, batch);
        await store.publishVersion(composite.spec.name, 1);
        expect((await store.findRecords(composite, { region: 'eu' }, 10)).map((r) => r.keys)).toEqual([
          ['eu', 'a'],
          ['eu', 'b'],
        ]);
        expect((await store.findRecords(composite, { sku: 'a' }, 10)).map((r) => r.keys)).toEqual([
          ['eu', 'a'],
          ['eu2', 'a'],
          ['us', 'a'],
        ]);
      });

      it('swaps versions atomically; the old one stays readable until publish, then can be dropped', async () => {
        await store.beginVersion(layout, 1);
        await store.applyKeyedBatch(
          layout,
          1,
          promoBatch({ source: 'old', seq: 0, rows: promoRows(50, { price: 1 }) }),
        );
        expect(await store.publishVersion('promotions', 1)).toBeNull();

        await store.beginVersion(layout, 2);
        await store.applyKeyedBatch(
          layout,
          2,
          promoBatch({ source: 'new', seq: 0, rows: promoRows(30, { from: 20, price: 2 }) }),
        );
        // still the old version while the new one is being built
        expect((await lookup(store, ['p5']))?.fields[0]).toBe(1);
        expect((await lookup(store, ['p40']))?.fields[0]).toBe(1);
        expect(await lookup(store, ['p49'])).toBeDefined();

        expect(await store.publishVersion('promotions', 2)).toBe(1);
        expect(await store.currentVersion('promotions')).toBe(2);
        // every key now answers from version 2 only
        for (let i = 0; i < 60; i++) {
          const r = await lookup(store, [`p${i}`]);
          if (i >= 20 && i < 50) expect(r?.fields[0]).toBe(2);
          else expect(r).toBeUndefined();
        }
        expect(await store.listVersions('promotions')).toEqual([1, 2]);
        await store.dropVersion('promotions', 1);
        await store.dropVersion('promotions', 1);
        expect(await store.listVersions('promotions')).toEqual([2]);
        expect((await lookup(store, ['p25']))?.fields[0]).toBe(2);
        expect(await store.currentVersion('promotions')).toBe(2);
      });

      it('dropping the published version leaves no current version', async () => {
        await store.beginVersion(layout, 1);
        await store.applyKeyedBatch(layout, 1, promoBatch({ source: 's', seq: 0, rows: promoRows(3) }));
        await store.publishVersion('promotions', 1);
        await store.dropVersion('promotions', 1);
        expect(await store.currentVersion('promotions')).toBeNull();
        expect(await lookup(store, ['p1'])).toBeUndefined();
        expect(await store.listVersions('promotions')).toEqual([]);
      });

      it('a batch replayed after a reopen changes nothing and reports the counts it was first applied with', async (ctx) => {
        if (!harness.reopen) return ctx.skip();
        await store.beginVersion(layout, 1);
        const b0 = promoBatch({
          source: 'up',
          seq: 0,
          rows: promoRows(40, { price: 1 }),
          rejects: [reject(50)],
        });
        const first = await store.applyKeyedBatch(layout, 1, b0);
        // As after a crash between the version's commit and the report row.
        store = await harness.reopen();
        const replay = promoBatch({
          source: 'up',
          seq: 0,
          rows: promoRows(60, { price: 9 }),
          rejects: [reject(50)],
        });
        const again = await store.applyKeyedBatch(layout, 1, replay);
        expect(again).toEqual({ applied: false, outcome: first.outcome });
        expect(await store.recordBatch('up', 0, again.outcome, replay.rejects)).toBe(true);
        expect(await store.uploadCounts('up')).toMatchObject({
          total: 41,
          valid: 40,
          invalid: 1,
          batches: 1,
        });
        // The build goes on into the same storage.
        const b1 = promoBatch({ source: 'up', seq: 1, rows: promoRows(10, { from: 35, price: 2 }) });
        expect((await store.applyKeyedBatch(layout, 1, b1)).outcome).toMatchObject({
          valid: 5,
          duplicate: 5,
        });
        await store.publishVersion('promotions', 1);
        expect((await lookup(store, ['p3']))?.fields[0]).toBe(1);
        expect((await lookup(store, ['p44']))?.fields[0]).toBe(2);
        expect(await lookup(store, ['p45'])).toBeUndefined();
        let stored = 0;
        await store.scanRecords(layout, 1, (records) => (stored += records.length));
        expect(stored).toBe(45);
        // A replay into the published version (a crash after the swap) is still answered.
        expect((await store.applyKeyedBatch(layout, 1, b1)).applied).toBe(false);
      });

      it('gives the storage of the old version back once it is dropped after the swap', async () => {
        await store.beginVersion(layout, 1);
        await store.applyKeyedBatch(layout, 1, promoBatch({ source: 'a', seq: 0, rows: promoRows(500) }));
        await store.publishVersion('promotions', 1);
        await store.beginVersion(layout, 2);
        await store.applyKeyedBatch(
          layout,
          2,
          promoBatch({ source: 'b', seq: 0, rows: promoRows(300, { price: 3 }) }),
        );
        expect(harness.versionStorageExists?.('promotions', 1) ?? true).toBe(true);
        expect(await store.publishVersion('promotions', 2)).toBe(1);
        await store.dropVersion('promotions', 1);
        expect(await store.listVersions('promotions')).toEqual([2]);
        expect(harness.versionStorageExists?.('promotions', 1) ?? false).toBe(false);
        expect(harness.versionStorageExists?.('promotions', 2) ?? true).toBe(true);
        expect((await lookup(store, ['p7']))?.fields[0]).toBe(3);
        expect(await lookup(store, ['p400'])).toBeUndefined();
      });

      it('removes a cancelled build entirely and keeps serving the current version', async () => {
        await store.beginVersion(layout, 1);
        await store.applyKeyedBatch(
          layout,
          1,
          promoBatch({ source: 'a', seq: 0, rows: promoRows(20, { price: 1 }) }),
        );
        await store.publishVersion('promotions', 1);
        await store.beginVersion(layout, 2);
        // Two writes in flight when the build is dropped: the drop comes after them.
        const writes = [0, 1].map((seq) =>
          store.applyKeyedBatch(
            layout,
            2,
            promoBatch({ source: 'b', seq, rows: promoRows(1000, { from: seq * 1000, price: 5 }) }),
          ),
        );
        const drop = store.dropVersion('promotions', 2);
        await Promise.all([...writes, drop]);
        expect(await store.listVersions('promotions')).toEqual([1]);
        expect(harness.versionStorageExists?.('promotions', 2) ?? false).toBe(false);
        expect(await store.currentVersion('promotions')).toBe(1);
        expect((await lookup(store, ['p7']))?.fields[0]).toBe(1);
        expect(await lookup(store, ['p500'])).toBeUndefined();
        expect(await errorCode(store.publishVersion('promotions', 2))).toBe('internal');
        expect(await store.currentVersion('promotions')).toBe(1);
      });

      it('keeps datasets apart', async () => {
        const other = promotionsLayout('catalog');
        await store.beginVersion(layout, 1);
        await store.beginVersion(other, 1);
        await store.applyKeyedBatch(
          layout,
          1,
          promoBatch({ source: 'a', seq: 0, rows: promoRows(3, { price: 1 }) }),
        );
        await store.applyKeyedBatch(
          other,
          1,
          promoBatch({ source: 'b', seq: 0, rows: promoRows(3, { price: 7 }), dataset: 'catalog' }),
        );
        await store.publishVersion('catalog', 1);
        expect(await lookup(store, ['p1'])).toBeUndefined();
        expect((await lookup(store, ['p1'], other))?.fields[0]).toBe(7);
        expect(await store.currentVersion('promotions')).toBeNull();
      });

      it('looks records up by composite keys', async () => {
        const comp = compositeLayout();
        await store.beginVersion(comp, 1);
        const out = await store.applyKeyedBatch(
          comp,
          1,
          compositeBatch('c', 0, [
            ['eu', 'sku1', 10],
            ['us', 'sku1', 12],
            ['eu', 'sku1', 99],
          ]),
        );
        expect(out.outcome).toMatchObject({ valid: 2, duplicate: 1 });
        await store.publishVersion('prices_by_region', 1);
        expect(await lookup(store, ['us', 'sku1'], comp)).toEqual({
          keys: ['us', 'sku1'],
          timeUs: null,
          timeText: null,
          fields: [12],
          payloads: [],
          attributes: [],
          line: 3,
        });
        expect((await lookup(store, ['eu', 'sku1'], comp))?.fields).toEqual([10]);
        expect(await lookup(store, ['sku1', 'eu'], comp)).toBeUndefined();
      });

      it('scans every record of a version once, in chunks', async () => {
        await store.beginVersion(layout, 3);
        const n = 23_456;
        for (let seq = 0, from = 0; from < n; seq++, from += 8192) {
          const rows = promoRows(Math.min(8192, n - from), { from });
          await store.applyKeyedBatch(layout, 3, promoBatch({ source: 'big', seq, rows }));
        }
        const seen = new Set<string>();
        let chunks = 0;
        await store.scanRecords(layout, 3, (records) => {
          expect(records.length).toBeGreaterThan(0);
          chunks++;
          for (const r of records) seen.add(r.keys[0]);
        });
        expect(seen.size).toBe(n);
        expect(chunks).toBeGreaterThan(1);
        const sample: KeyedRecord[] = [];
        await store.scanRecords(layout, 3, (records) =>
          sample.push(...records.filter((r) => r.keys[0] === 'p777')),
        );
        expect(sample).toEqual([
          {
            keys: ['p777'],
            timeUs: expirationUs(promoRows(1, { from: 777 })[0].expiration!),
            timeText: promoRows(1, { from: 777 })[0].expiration,
            fields: [777.25, null],
            payloads: [null],
            attributes: [null],
            line: 779,
          },
        ]);
        let empty = 0;
        await store.beginVersion(layout, 4);
        await store.scanRecords(layout, 4, (records) => (empty += records.length));
        expect(empty).toBe(0);
      });
    });

    describe('jobs', () => {
      it('creates a queued job, moves it through running to done, and lists the unfinished', async () => {
        const job = await store.createJob({
          id: 'agg_1',
          kind: 'aggregation',
          client: 'k1',
          input: '{"a":1}',
        });
        expect(job).toMatchObject({
          id: 'agg_1',
          status: 'queued',
          result: null,
          error: null,
          finishedAt: null,
        });
        await store.createJob({ id: 'agg_2', kind: 'aggregation', client: null, input: '{}' });
        await store.createJob({ id: 'other_1', kind: 'other', client: null, input: '{}' });
        await store.updateJob('agg_1', { status: 'running', startedAt: 5 });
        expect((await store.unfinishedJobs('aggregation')).map((j) => j.id).sort()).toEqual([
          'agg_1',
          'agg_2',
        ]);
        await store.updateJob('agg_1', { status: 'done', result: '{"rows":[]}', finishedAt: 9 });
        expect(await store.getJob('agg_1')).toMatchObject({
          status: 'done',
          result: '{"rows":[]}',
          startedAt: 5,
          finishedAt: 9,
          input: '{"a":1}',
          client: 'k1',
        });
        await store.updateJob('agg_2', { status: 'failed', error: 'boom', finishedAt: 10 });
        expect(await store.unfinishedJobs('aggregation')).toEqual([]);
        expect((await store.getJob('agg_2'))?.error).toBe('boom');
        expect(await store.getJob('nothing')).toBeUndefined();
      });
    });

    it('closes idempotently', async () => {
      await store.close();
      await store.close();
      // afterEach closes once more
    });
  });
}

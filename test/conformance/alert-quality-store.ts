import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AlertRow } from '../../src/store/alert-store.js';
import type { MetaStore } from '../../src/store/meta-store.js';
import type { QualityDelta } from '../../src/store/quality-store.js';
import type { MetaStoreHarness } from './meta-store.js';

export function alertRow(over: Partial<AlertRow> = {}): AlertRow {
  return {
    id: 'al_1',
    fingerprint: 'rule:r\u001fthreshold\u001fdevice_id=d1',
    ruleId: 'r',
    source: 'rule:r',
    kind: 'threshold',
    groupKey: 'device_id=d1',
    state: 'firing',
    severity: 'warning',
    description: 'max(value) over 5m is 150 (> 100)',
    labels: { dataset: 'readings', device_id: 'd1' },
    value: 150,
    startedAt: 1_000,
    updatedAt: 1_000,
    resolvedAt: null,
    ackedAt: null,
    ackedBy: null,
    occurrences: 1,
    ...over,
  };
}

export function qualityDelta(over: Partial<QualityDelta> = {}): QualityDelta {
  return {
    dataset: 'readings',
    client: 'key_a',
    bucketMs: 60_000,
    total: 10,
    valid: 7,
    invalid: 3,
    duplicate: 0,
    reasons: new Map([
      [
        'bad_time',
        {
          n: 2,
          examples: [
            { line: 2, column: 'timestamp', raw: 'd1,x,1' },
            { line: 5, column: 'timestamp', raw: 'd1,y,1' },
          ],
        },
      ],
      ['not_a_number', { n: 1, examples: [{ line: 3, column: 'value', raw: 'd1,2024-01-01,z' }] }],
    ]),
    ...over,
  };
}

/** The alerting and data-quality parts of the MetaStore conformance suite. */
export function runAlertQualityConformance(name: string, make: () => Promise<MetaStoreHarness>): void {
  describe(`MetaStore alerts and quality conformance: ${name}`, () => {
    let store: MetaStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await make());
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    it('keeps one firing alert per fingerprint and updates it in place', async () => {
      const a = store.alerts;
      await a.putAlert(alertRow());
      expect(await a.firingAlert(alertRow().fingerprint)).toEqual(alertRow());
      await a.putAlert(alertRow({ occurrences: 2, updatedAt: 2_000, value: 170 }));
      expect(await a.getAlert('al_1')).toMatchObject({ occurrences: 2, value: 170, startedAt: 1_000 });
      await expect(a.putAlert(alertRow({ id: 'al_2' }))).rejects.toThrow();
      await a.putAlert(alertRow({ state: 'resolved', resolvedAt: 3_000 }));
      expect(await a.firingAlert(alertRow().fingerprint)).toBeUndefined();
      await a.putAlert(alertRow({ id: 'al_2', startedAt: 4_000, severity: 'critical' }));
      expect((await a.listAlerts({ limit: 10 })).map((r) => r.id)).toEqual(['al_2', 'al_1']);
      expect((await a.listAlerts({ limit: 10, state: 'resolved' })).map((r) => r.id)).toEqual(['al_1']);
      expect((await a.listAlerts({ limit: 10, severity: 'critical' })).map((r) => r.id)).toEqual(['al_2']);
      expect((await a.listAlerts({ limit: 10, ruleId: 'other' })).map((r) => r.id)).toEqual([]);
      expect(await a.listAlerts({ limit: 1 })).toHaveLength(1);
    });

    it('stores rules, channels, silences, rule state and channel status', async () => {
      const a = store.alerts;
      await a.putRule({ id: 'r1', spec: { id: 'r1', type: 'deadman' }, createdAt: 5 });
      await a.putChannel({ id: 'c1', spec: { id: 'c1', type: 'webhook' }, createdAt: 6 });
      expect(await a.listRules()).toEqual([{ id: 'r1', spec: { id: 'r1', type: 'deadman' }, createdAt: 5 }]);
      expect((await a.listChannels()).map((c) => c.id)).toEqual(['c1']);
      expect(await a.deleteRule('r1')).toBe(true);
      expect(await a.deleteRule('r1')).toBe(false);
      expect(await a.deleteChannel('c1')).toBe(true);

      await a.recordDelivery('c1', false, 'boom', 10);
      await a.recordDelivery('c1', true, null, 20);
      await a.recordDelivery('c1', true, null, 30);
      expect(await a.channelStatuses()).toEqual([
        { channel: 'c1', sent: 2, failed: 1, lastOkAt: 30, lastErrorAt: 10, lastError: 'boom' },
      ]);

      const silence = {
        id: 's1',
        matchers: { rule: 'r1' },
        startsAt: 1,
        endsAt: 2,
        comment: '',
        createdBy: null,
        createdAt: 0,
      };
      await a.putSilence(silence);
      expect(await a.listSilences()).toEqual([silence]);
      expect(await a.deleteSilence('s1')).toBe(true);

      await a.putRuleState('r1', 'g1', { since: 1 });
      await a.putRuleState('r1', 'g1', { since: 2 });
      await a.putRuleState('r1', 'g2', null);
      expect(await a.ruleStates('r1')).toEqual(
        new Map<string, unknown>([
          ['g1', { since: 2 }],
          ['g2', null],
        ]),
      );
      await a.deleteRuleStates('r1');
      expect((await a.ruleStates('r1')).size).toBe(0);
    });

    it('sums quality counters per bucket, group and reason, with a few examples each', async () => {
      const q = store.quality;
      await q.addQuality([qualityDelta(), qualityDelta({ client: 'key_b', bucketMs: 120_000 })]);
      await q.addQuality([qualityDelta()]);
      const all = { fromMs: 0, toMs: 1_000_000 };
      expect(await q.qualityBuckets(all, 60_000)).toEqual([
        { bucketMs: 60_000, total: 20, valid: 14, invalid: 6, duplicate: 0 },
        { bucketMs: 120_000, total: 10, valid: 7, invalid: 3, duplicate: 0 },
      ]);
      expect(await q.qualityBuckets(all, 3_600_000)).toEqual([
        { bucketMs: 0, total: 30, valid: 21, invalid: 9, duplicate: 0 },
      ]);
      expect(await q.qualityGroups({ ...all, client: 'key_a' })).toEqual([
        { dataset: 'readings', client: 'key_a', total: 20, valid: 14, invalid: 6, duplicate: 0 },
      ]);
      expect(await q.qualityGroups({ fromMs: 100_000, toMs: 200_000 })).toHaveLength(1);
      const reasons = await q.qualityReasons(all, 10);
      expect(reasons.map((r) => [r.reason, r.n])).toEqual([
        ['bad_time', 6],
        ['not_a_number', 3],
      ]);
      // Three examples kept per bucket and reason; the newest buckets first.
      expect(reasons[0]!.examples.length).toBe(5);
      expect(reasons[0]!.examples[0]).toMatchObject({ bucketMs: 120_000, client: 'key_b', raw: 'd1,x,1' });
      expect(await q.qualityReasons({ ...all, dataset: 'other' }, 10)).toEqual([]);
    });
  });
}

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteMetaStore } from '../../src/store/sqlite/sqlite-meta-store.js';
import { alertRow, qualityDelta, runAlertQualityConformance } from './alert-quality-store.js';

runAlertQualityConformance('sqlite :memory:', async () => {
  const store = new SqliteMetaStore({ path: ':memory:' });
  await store.init();
  return { store, cleanup: async () => {} };
});

describe('SqliteMetaStore alert and quality state', () => {
  it('survives close and reopen', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
    const file = path.join(dir, 'meta.db');
    try {
      let store = new SqliteMetaStore({ path: file });
      await store.init();
      await store.alerts.putAlert(alertRow({ ackedAt: 7, ackedBy: 'key_x' }));
      await store.alerts.putRule({ id: 'r', spec: { id: 'r' }, createdAt: 1 });
      await store.alerts.putRuleState('r', 'g', { since: 3 });
      await store.quality.addQuality([qualityDelta()]);
      await store.close();

      store = new SqliteMetaStore({ path: file });
      await store.init();
      expect(await store.alerts.firingAlert(alertRow().fingerprint)).toEqual(
        alertRow({ ackedAt: 7, ackedBy: 'key_x' }),
      );
      expect((await store.alerts.listRules()).map((r) => r.id)).toEqual(['r']);
      expect(await store.alerts.ruleStates('r')).toEqual(new Map([['g', { since: 3 }]]));
      expect(await store.quality.qualityGroups({ fromMs: 0, toMs: 1e9 })).toHaveLength(1);
      await store.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

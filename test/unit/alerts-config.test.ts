import { describe, expect, it } from 'vitest';
import { alertsConfigSchema, ruleSpecSchema } from '../../src/alerts/alert-config.js';
import { validateConfig } from '../../src/config/load.js';

describe('alerts config', () => {
  it('defaults to no rules, no channels and a daily summary', () => {
    const c = alertsConfigSchema.parse({});
    expect(c).toMatchObject({
      evaluate_every: '30s',
      rules: [],
      channels: [],
      notify: { attempts: 4, backoff: '500ms' },
      summary: { enabled: true, cron: '0 8 * * *', timezone: 'UTC', period: '24h' },
    });
  });

  it('fills rule defaults by type', () => {
    expect(ruleSpecSchema.parse({ id: 'd', type: 'deadman', dataset: 'readings' })).toMatchObject({
      severity: 'warning',
      per: 'dataset',
      after: '15m',
      min_expected: 7,
    });
    expect(ruleSpecSchema.parse({ id: 'a', type: 'anomaly', dataset: 'r', field: 'v' })).toMatchObject({
      agg: 'mean',
      method: 'mad',
      bucket: '1m',
      warmup: 30,
    });
  });

  it('names the path of each mistake in sluice.yaml', () => {
    const bad = (alerts: unknown) => () =>
      validateConfig({ alerts } as Record<string, unknown>, 'sluice.yaml');
    expect(
      bad({ rules: [{ id: 'x', type: 'threshold', dataset: 'r', agg: 'p95', op: '>', value: 1 }] }),
    ).toThrow(/alerts\.rules\.0\.field: a threshold on mean, min, max, sum or p95 needs a field/);
    expect(bad({ rules: [{ id: 'x', type: 'nope' }] })).toThrow(/alerts\.rules\.0\.type/);
    expect(bad({ channels: [{ id: 'c', type: 'webhook', url: 'ftp://x' }] })).toThrow(
      /alerts\.channels\.0\.url/,
    );
    expect(
      bad({
        channels: [
          { id: 'c', type: 'webhook', url: 'http://x' },
          { id: 'c', type: 'webhook', url: 'http://y' },
        ],
      }),
    ).toThrow(/alerts\.channels\.1\.id: duplicate id c/);
    expect(bad({ evaluate_every: 'often' })).toThrow(/alerts\.evaluate_every/);
  });
});

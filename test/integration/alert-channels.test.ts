import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startHarness, upload, waitForUpload, type Harness } from '../helpers/harness.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

let hook: WebhookReceiver;
let smtp: SmtpSink;

beforeAll(async () => {
  hook = await startWebhookReceiver();
  smtp = await startSmtpSink();
});
afterAll(async () => {
  await hook.close();
  await smtp.close();
});

function channels(): any[] {
  return [
    { id: 'chat', type: 'webhook', url: hook.url, headers: { 'x-token': 'secret-token' } },
    {
      id: 'oncall',
      type: 'email',
      min_severity: 'critical',
      smtp: { host: '127.0.0.1', port: smtp.port, user: 'sluice', pass: 'hunter2' },
      from: 'sluice@example.test',
      to: ['oncall@example.test'],
    },
  ];
}

const noSummary: any = { summary: { enabled: false } };

/** Runs `fn` with a fresh server; `fn` may close it itself (a restart) and then returns `closed`. */
async function withHarness(alerts: any, fn: (h: Harness) => Promise<void | 'closed'>): Promise<void> {
  const h = await startHarness({ config: { alerts } });
  let closed = false;
  try {
    closed = (await fn(h)) === 'closed';
  } finally {
    if (!closed) await h.close();
  }
}

describe('channels', () => {
  it('send alerts to the webhook (Slack payload) and, by severity, over SMTP', async () => {
    hook.bodies.length = 0;
    smtp.mails.length = 0;
    await withHarness({ channels: channels(), summary: { enabled: false } }, async (h) => {
      const sink = h.sluice.alerting.sink;
      sink.raise({
        source: 'feed',
        kind: 'no_data',
        severity: 'warning',
        description: 'feed is quiet',
        at: Date.now(),
      });
      sink.raise({
        source: 'db',
        kind: 'down',
        severity: 'critical',
        description: 'database down',
        at: Date.now(),
      });
      await h.sluice.alerting.idle();
      const bodies = await hook.waitFor(2);
      expect(bodies.map((b) => b.text).sort()).toEqual([
        expect.stringContaining('[CRITICAL] db: database down'),
        expect.stringContaining('[WARNING] feed: feed is quiet'),
      ]);
      for (const b of bodies) {
        expect(b.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text' } });
        expect(b.attachments[0].fields).toEqual(
          expect.arrayContaining([{ title: 'state', value: 'firing', short: true }]),
        );
      }
      // Email takes critical only.
      const [mail] = await smtp.waitFor(1);
      expect(mail.to).toEqual(['oncall@example.test']);
      expect(mail.raw).toMatch(/Subject: \[CRITICAL\] db: database down/);
      expect(mail.raw).toContain('X-Sluice-Severity: critical');
      expect(smtp.mails).toHaveLength(1);

      const list = (await h.app.inject({ method: 'GET', url: '/v1/channels', headers: auth })).json()
        .channels;
      expect(list.map((c: any) => [c.id, c.origin, c.status.sent])).toEqual([
        ['chat', 'config', 2],
        ['oncall', 'config', 1],
      ]);
      // Secrets never leave the server.
      expect(JSON.stringify(list)).not.toMatch(/hunter2|secret-token/);
      const del = await h.app.inject({ method: 'DELETE', url: '/v1/channels/chat', headers: auth });
      expect(del.json().code).toBe('alerting_in_config');
    });
  });

  it('retries with backoff, and shows a channel that keeps failing in its status and metrics', async () => {
    hook.bodies.length = 0;
    await withHarness(
      { notify: { attempts: 3, backoff: '20ms' }, summary: { enabled: false } },
      async (h) => {
        const create = await h.app.inject({
          method: 'POST',
          url: '/v1/channels',
          headers: auth,
          payload: { id: 'flaky', type: 'webhook', url: hook.url },
        });
        expect(create.statusCode, create.body).toBe(201);
        const broken = await h.app.inject({
          method: 'POST',
          url: '/v1/channels',
          headers: auth,
          payload: {
            id: 'broken',
            type: 'webhook',
            url: 'http://127.0.0.1:9/nothing-listens',
            timeout: '1s',
          },
        });
        expect(broken.statusCode, broken.body).toBe(201);

        hook.failNext(2);
        h.sluice.alerting.sink.raise({
          source: 'x',
          kind: 'y',
          severity: 'warning',
          description: 'flap',
          at: Date.now(),
        });
        await h.sluice.alerting.idle();
        await hook.waitFor(1);

        const flaky = (
          await h.app.inject({ method: 'GET', url: '/v1/channels/flaky', headers: auth })
        ).json();
        expect(flaky.status).toMatchObject({ sent: 1, failed: 0, healthy: true });
        const bad = (await h.app.inject({ method: 'GET', url: '/v1/channels/broken', headers: auth })).json();
        expect(bad.status).toMatchObject({
          sent: 0,
          failed: 1,
          healthy: false,
          last_error: expect.any(String),
        });

        const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
        expect(metrics).toContain(
          'sluice_alert_notification_attempts_total{channel="flaky",outcome="error"} 2',
        );
        expect(metrics).toContain('sluice_alert_notifications_total{channel="flaky",outcome="sent"} 1');
        expect(metrics).toContain('sluice_alert_notifications_total{channel="broken",outcome="failed"} 1');
        expect(metrics).toContain('sluice_alerts_open{severity="warning"} 1');

        const test = await h.app.inject({ method: 'POST', url: '/v1/channels/flaky/test', headers: auth });
        expect(test.json()).toMatchObject({ channel: 'flaky', ok: true, attempts: 1 });

        // API channels survive a restart.
        const dataDir = h.dataDir;
        await h.close();
        const again = await startHarness({ dataDir, config: { alerts: noSummary } });
        try {
          const ids = (await again.app.inject({ method: 'GET', url: '/v1/channels', headers: auth })).json()
            .channels;
          expect(ids.map((c: any) => [c.id, c.status.sent])).toEqual([
            ['broken', 0],
            ['flaky', 2],
          ]);
          expect(
            (await again.app.inject({ method: 'DELETE', url: '/v1/channels/broken', headers: auth }))
              .statusCode,
          ).toBe(204);
        } finally {
          await again.close();
        }
        return 'closed';
      },
    );
  });
});

describe('scheduled summaries', () => {
  it('reach the webhook on their cron schedule', async () => {
    hook.bodies.length = 0;
    await withHarness(
      { channels: [{ id: 'chat', type: 'webhook', url: hook.url }], summary: { cron: '* * * * * *' } },
      async () => {
        const [first] = await hook.waitFor(1, 5000);
        expect(first.sluice.kind).toBe('summary');
        expect(first.text).toMatch(/^Sluice summary /);
      },
    );
  });

  it('are sent on demand with volume, invalid rate, top reasons, silent sources and open alerts', async () => {
    hook.bodies.length = 0;
    await withHarness(
      { channels: [{ id: 'chat', type: 'webhook', url: hook.url }], summary: { enabled: false } },
      async (h) => {
        const rows = [
          'device_id,timestamp,value',
          'd1,2024-01-01T00:00:00Z,1',
          'd1,2024-01-01T00:01:00Z,x',
          'd1,nope,2',
        ];
        const up = await upload(h.app, 'readings', rows.join('\n') + '\n');
        await waitForUpload(h.app, up.id);
        h.sluice.alerting.sink.raise({
          source: 'feed',
          kind: 'no_data',
          severity: 'warning',
          description: 'feed is quiet',
          at: Date.now(),
        });
        await h.sluice.alerting.idle();
        hook.bodies.length = 0;
        const res = await h.app.inject({ method: 'POST', url: '/v1/alerts/summary', headers: auth });
        expect(res.statusCode, res.body).toBe(200);
        const { summary, deliveries } = res.json();
        expect(deliveries).toEqual([{ channel: 'chat', ok: true, attempts: 1, error: null }]);
        expect(summary.volume).toMatchObject({ total: 3, valid: 1, invalid: 2 });
        expect(summary.top_reasons.map((r: any) => r.reason).sort()).toEqual(['bad_time', 'not_a_number']);
        expect(summary.silent_sources).toEqual([{ dataset: null, client: null, reason: 'feed is quiet' }]);
        expect(summary.open_alerts).toMatchObject({ count: 1, by_severity: { warning: 1 } });
        const [body] = await hook.waitFor(1);
        expect(body.sluice.kind).toBe('summary');
        expect(body.text).toMatch(/Sluice summary/);
        expect(body.blocks[1].text.text).toContain('Rows: 3 (2 invalid, 66.67%)');
      },
    );
  });
});

describe('rules from sluice.yaml', () => {
  it('load with origin config, cannot be deleted through the API, and must name known datasets', async () => {
    const rules = [{ id: 'silent', type: 'deadman', dataset: 'readings', channels: ['chat'] }];
    await withHarness(
      { ...noSummary, channels: [{ id: 'chat', type: 'webhook', url: hook.url }], rules },
      async (h) => {
        const list = (await h.app.inject({ method: 'GET', url: '/v1/alert-rules', headers: auth })).json();
        expect(list.rules).toEqual([
          expect.objectContaining({ id: 'silent', origin: 'config', per: 'dataset' }),
        ]);
        const del = await h.app.inject({ method: 'DELETE', url: '/v1/alert-rules/silent', headers: auth });
        expect(del.json().code).toBe('alerting_in_config');
      },
    );
    await expect(
      startHarness({ config: { alerts: { ...noSummary, rules: [{ ...rules[0], dataset: 'nope' }] } } }),
    ).rejects.toMatchObject({ code: 'config_invalid' });
  });
});

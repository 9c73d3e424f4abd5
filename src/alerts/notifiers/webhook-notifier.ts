import { request } from 'undici';
import { durationMs } from '../../core/duration.js';
import type { WebhookChannelSpec } from '../alert-config.js';
import type { Notification, Notifier } from './notifier.js';

const COLORS: Record<string, string> = {
  critical: '#d62728',
  warning: '#ff9f1c',
  info: '#1f77b4',
  resolved: '#2ca02c',
};

/**
 * The JSON body: `text` and `blocks` as Slack's incoming webhooks take them (and Mattermost, Rocket.Chat,
 * Teams connectors and most chat tools accept), `attachments` for the coloured side bar and fields,
 * and `sluice` with the structured alert or summary for receivers that are programs.
 */
export function slackPayload(m: Notification): Record<string, unknown> {
  const color = m.state === 'resolved' ? COLORS.resolved : COLORS[m.severity ?? 'info'];
  return {
    text: m.title,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: m.title.slice(0, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: m.text.slice(0, 3000) || ' ' } },
      ...(m.fields.length > 0
        ? [
            {
              type: 'section',
              fields: m.fields
                .slice(0, 10)
                .map((f) => ({ type: 'mrkdwn', text: `*${f.title}*\n${f.value}` })),
            },
          ]
        : []),
    ],
    attachments: [
      {
        color,
        fallback: m.title,
        fields: m.fields.map((f) => ({ title: f.title, value: f.value, short: f.value.length < 40 })),
      },
    ],
    sluice: { kind: m.kind, state: m.state, severity: m.severity, data: m.data },
  };
}

export class WebhookNotifier implements Notifier {
  readonly kind = 'webhook';
  private readonly timeoutMs: number;

  constructor(private readonly spec: WebhookChannelSpec) {
    this.timeoutMs = durationMs(spec.timeout);
  }

  async send(message: Notification): Promise<void> {
    const res = await request(this.spec.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.spec.headers },
      body: JSON.stringify(slackPayload(message)),
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
    const body = await res.body.text();
    if (res.statusCode < 200 || res.statusCode >= 300)
      throw new Error(`webhook answered ${res.statusCode}: ${body.slice(0, 200)}`);
  }

  close(): void {}
}

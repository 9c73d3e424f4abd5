import type { ChannelSpec } from '../alert-config.js';
import type { AlertSeverity } from '../alert-sink.js';
import { EmailNotifier } from './email-notifier.js';
import { WebhookNotifier } from './webhook-notifier.js';

/**
 * Notifier: one alert channel. Adapters: `webhook` (Slack-compatible JSON) and `email` (SMTP through
 * nodemailer). `send` rejects when the message was not delivered; the dispatcher retries.
 */
export interface Notification {
  /** `alert` for a firing or resolved alert, `summary` for a scheduled summary, `test` for a channel test. */
  kind: 'alert' | 'summary' | 'test';
  /** One line: the subject of an email, the `text` of a webhook. */
  title: string;
  /** Plain-text body, a few lines. */
  text: string;
  severity: AlertSeverity | null;
  /** `firing`, `resolved`, or null for summaries. */
  state: 'firing' | 'resolved' | null;
  fields: { title: string; value: string }[];
  /** The structured object (alert view or summary report), sent as is in webhook bodies. */
  data: unknown;
}

export interface Notifier {
  readonly kind: ChannelSpec['type'];
  send(message: Notification): Promise<void>;
  close(): void;
}

export function createNotifier(spec: ChannelSpec): Notifier {
  switch (spec.type) {
    case 'webhook':
      return new WebhookNotifier(spec);
    case 'email':
      return new EmailNotifier(spec);
    default:
      throw new Error(`unknown channel type '${(spec as { type: string }).type}' (webhook, email)`);
  }
}

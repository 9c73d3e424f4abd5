import nodemailer, { type Transporter } from 'nodemailer';
import { durationMs } from '../../core/duration.js';
import type { EmailChannelSpec } from '../alert-config.js';
import type { Notification, Notifier } from './notifier.js';

/** Sends each notification as a plain-text email through one pooled SMTP transport. */
export class EmailNotifier implements Notifier {
  readonly kind = 'email';
  private readonly transport: Transporter;

  constructor(private readonly spec: EmailChannelSpec) {
    const timeout = durationMs(spec.timeout);
    const { host, port, secure, user, pass } = spec.smtp;
    this.transport = nodemailer.createTransport({
      host,
      port,
      secure,
      auth: user !== undefined ? { user, pass: pass ?? '' } : undefined,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
    });
  }

  async send(m: Notification): Promise<void> {
    const fields = m.fields.map((f) => `${f.title}: ${f.value}`).join('\n');
    await this.transport.sendMail({
      from: this.spec.from,
      to: this.spec.to,
      subject: m.title,
      text: `${m.text}\n\n${fields}\n`,
      headers: { 'X-Sluice-Kind': m.kind, ...(m.severity ? { 'X-Sluice-Severity': m.severity } : {}) },
    });
  }

  close(): void {
    this.transport.close();
  }
}

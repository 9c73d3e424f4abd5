import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { AlertStore } from '../../store/alert-store.js';
import type { ChannelSpec } from '../alert-config.js';
import type { AlertSeverity } from '../alert-sink.js';
import type { AlertMetrics } from '../alert-metrics.js';
import { createNotifier, type Notification, type Notifier } from './notifier.js';

const RANK: Record<AlertSeverity, number> = { info: 0, warning: 1, critical: 2 };

export interface DeliveryResult {
  channel: string;
  ok: boolean;
  attempts: number;
  error: string | null;
}

/**
 * Owns the channels and delivers notifications to them in the background. Each delivery is tried up
 * to `attempts` times with doubling, jittered delays; the outcome is counted in metrics and recorded
 * as the channel's status (last success, last error), so a broken channel is visible in the API.
 */
export class Dispatcher {
  private readonly channels = new Map<string, { spec: ChannelSpec; notifier: Notifier }>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();

  constructor(
    private readonly deps: {
      store: AlertStore;
      metrics: AlertMetrics;
      log: Logger;
      attempts: number;
      backoffMs: number;
    },
  ) {}

  set(spec: ChannelSpec): void {
    this.remove(spec.id);
    this.channels.set(spec.id, { spec, notifier: createNotifier(spec) });
  }

  remove(id: string): boolean {
    const c = this.channels.get(id);
    c?.notifier.close();
    return this.channels.delete(id);
  }

  has(id: string): boolean {
    return this.channels.has(id);
  }

  specs(): ChannelSpec[] {
    return [...this.channels.values()].map((c) => c.spec);
  }

  /**
   * Channels an alert of this severity goes to: the named ones (all when `only` is undefined) whose
   * `min_severity` it reaches.
   */
  route(severity: AlertSeverity, only: readonly string[] | undefined): string[] {
    return [...this.channels.values()]
      .filter(
        (c) =>
          (only === undefined || only.includes(c.spec.id)) && RANK[severity] >= RANK[c.spec.min_severity],
      )
      .map((c) => c.spec.id);
  }

  summaryChannels(): string[] {
    return [...this.channels.values()].filter((c) => c.spec.summaries).map((c) => c.spec.id);
  }

  /** Starts delivering to each channel; resolves when every delivery has finished (tests, send-now). */
  deliver(message: Notification, channelIds: readonly string[]): Promise<DeliveryResult[]> {
    const all = Promise.all(channelIds.map((id) => this.deliverOne(message, id)));
    this.inFlight.add(all);
    void all.finally(() => this.inFlight.delete(all));
    return all;
  }

  /** Waits for deliveries started so far. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.idle();
    for (const c of this.channels.values()) c.notifier.close();
    this.channels.clear();
  }

  private async deliverOne(message: Notification, id: string): Promise<DeliveryResult> {
    const { metrics, log, attempts, backoffMs } = this.deps;
    const channel = this.channels.get(id);
    if (!channel) return { channel: id, ok: false, attempts: 0, error: 'unknown channel' };
    let error = '';
    let tries = 0;
    for (; tries < attempts && !this.abort.signal.aborted; tries++) {
      if (tries > 0) {
        const delay = backoffMs * 2 ** (tries - 1) * (0.5 + Math.random());
        try {
          await sleep(delay, undefined, { signal: this.abort.signal });
        } catch {
          break;
        }
      }
      try {
        await channel.notifier.send(message);
        metrics.notificationAttempts.inc({ channel: id, outcome: 'ok' });
        metrics.notifications.inc({ channel: id, outcome: 'sent' });
        await this.record(id, true, null);
        return { channel: id, ok: true, attempts: tries + 1, error: null };
      } catch (err) {
        error = (err as Error).message;
        metrics.notificationAttempts.inc({ channel: id, outcome: 'error' });
        log.debug({ channel: id, attempt: tries + 1, err }, 'notification attempt failed');
      }
    }
    metrics.notifications.inc({ channel: id, outcome: 'failed' });
    log.warn({ channel: id, attempts: tries, error }, 'notification failed');
    await this.record(id, false, error);
    return { channel: id, ok: false, attempts: tries, error };
  }

  private async record(id: string, ok: boolean, error: string | null): Promise<void> {
    try {
      await this.deps.store.recordDelivery(id, ok, error, Date.now());
    } catch (err) {
      this.deps.log.error({ err, channel: id }, 'recording a channel status failed');
    }
  }
}

import { Cron } from 'croner';
import type { Logger } from 'pino';
import type { AlertStore } from '../store/alert-store.js';
import type { QualityStore } from '../store/quality-store.js';
import type { AlertMetrics } from './alert-metrics.js';
import type { AlertsConfig } from './alert-config.js';
import type { DeliveryResult, Dispatcher } from './notifiers/dispatcher.js';
import type { Notification } from './notifiers/notifier.js';

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Scheduled summaries: on a cron expression (daily by default) the channels that take summaries get
 * the period's volume, invalid rate, top reject reasons, sources that went silent (rows in the period
 * before, none in this one, or a firing deadman alert) and the open alerts.
 */
export class Summaries {
  private job: Cron | undefined;

  constructor(
    private readonly deps: {
      config: AlertsConfig['summary'];
      periodMs: number;
      quality: QualityStore;
      store: AlertStore;
      dispatcher: Dispatcher;
      metrics: AlertMetrics;
      log: Logger;
      now: () => number;
    },
  ) {}

  start(): void {
    if (!this.deps.config.enabled) return;
    this.job = new Cron(
      this.deps.config.cron,
      { timezone: this.deps.config.timezone, protect: true, unref: true },
      () =>
        this.send().then(
          () => undefined,
          (err: unknown) => this.deps.log.error({ err }, 'sending the summary failed'),
        ),
    );
  }

  nextRun(): Date | null {
    return this.job?.nextRun() ?? null;
  }

  stop(): void {
    this.job?.stop();
  }

  async build(now = this.deps.now()) {
    const { quality, store, periodMs } = this.deps;
    const fromMs = now - periodMs;
    const filter = { fromMs, toMs: now + 1 };
    const [groups, before, reasons, firing] = await Promise.all([
      quality.qualityGroups(filter),
      quality.qualityGroups({ fromMs: fromMs - periodMs, toMs: fromMs }),
      quality.qualityReasons(filter, 5),
      store.listAlerts({ state: 'firing', limit: 1000 }),
    ]);
    const volume = groups.reduce(
      (a, g) => ({ total: a.total + g.total, valid: a.valid + g.valid, invalid: a.invalid + g.invalid }),
      { total: 0, valid: 0, invalid: 0 },
    );
    const active = new Set(groups.filter((g) => g.total > 0).map((g) => `${g.dataset}\u001f${g.client}`));
    const silent = [
      ...before
        .filter((g) => g.total > 0 && !active.has(`${g.dataset}\u001f${g.client}`))
        .map((g) => ({
          dataset: g.dataset,
          client: g.client || null,
          reason: `${g.total} rows in the period before, none in this one`,
        })),
      ...firing
        .filter((a) => a.kind === 'deadman' || a.kind === 'no_data')
        .map((a) => ({
          dataset: a.labels.dataset ?? null,
          client: a.labels.client ?? null,
          reason: a.description,
        })),
    ];
    const bySeverity = { critical: 0, warning: 0, info: 0 };
    for (const a of firing) bySeverity[a.severity]++;
    return {
      from: iso(fromMs),
      to: iso(now),
      volume: { ...volume, invalid_rate: volume.total > 0 ? volume.invalid / volume.total : 0 },
      top_reasons: reasons.map((r) => ({
        reason: r.reason,
        count: r.n,
        example: r.examples[0]?.raw ?? null,
      })),
      silent_sources: silent,
      open_alerts: {
        count: firing.length,
        by_severity: bySeverity,
        alerts: firing.slice(0, 20).map((a) => ({
          id: a.id,
          severity: a.severity,
          description: a.description,
          since: iso(a.startedAt),
        })),
      },
    };
  }

  /** Builds the summary and sends it to every summary channel; resolves once delivered (or failed). */
  async send(now = this.deps.now()): Promise<{ summary: SummaryReport; deliveries: DeliveryResult[] }> {
    const summary = await this.build(now);
    const channels = this.deps.dispatcher.summaryChannels();
    const deliveries = await this.deps.dispatcher.deliver(summaryNotification(summary), channels);
    const ok = deliveries.every((d) => d.ok);
    this.deps.metrics.summaries.inc({ outcome: ok ? 'sent' : 'failed' });
    return { summary, deliveries };
  }
}

export type SummaryReport = Awaited<ReturnType<Summaries['build']>>;

export function summaryNotification(s: SummaryReport): Notification {
  const lines = [
    `Rows: ${s.volume.total} (${s.volume.invalid} invalid, ${pct(s.volume.invalid_rate)})`,
    s.top_reasons.length
      ? `Top reasons: ${s.top_reasons.map((r) => `${r.reason} ${r.count}`).join(', ')}`
      : 'Top reasons: none',
    s.silent_sources.length
      ? `Silent sources: ${s.silent_sources.map((x) => `${x.dataset ?? '?'}${x.client ? `/${x.client}` : ''}`).join(', ')}`
      : 'Silent sources: none',
    `Open alerts: ${s.open_alerts.count} (critical ${s.open_alerts.by_severity.critical}, warning ${s.open_alerts.by_severity.warning}, info ${s.open_alerts.by_severity.info})`,
    ...s.open_alerts.alerts.slice(0, 5).map((a) => `• [${a.severity}] ${a.description}`),
  ];
  return {
    kind: 'summary',
    title: `Sluice summary ${s.from.slice(0, 16)} → ${s.to.slice(0, 16)}`,
    text: lines.join('\n'),
    severity: null,
    state: null,
    fields: [
      { title: 'rows', value: String(s.volume.total) },
      { title: 'invalid rate', value: pct(s.volume.invalid_rate) },
      { title: 'silent sources', value: String(s.silent_sources.length) },
      { title: 'open alerts', value: String(s.open_alerts.count) },
    ],
    data: s,
  };
}

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AlertStore } from '../store/alert-store.js';
import { SEVERITIES } from './alert-config.js';

/** Alerting metrics: rule evaluations, alerts fired and resolved, open alerts, notifications. */
export class AlertMetrics {
  readonly evaluations: Counter<'rule' | 'type' | 'outcome'>;
  readonly evaluationSeconds: Histogram<'type'>;
  readonly fired: Counter<'severity'>;
  readonly resolved: Counter<'severity'>;
  readonly notifications: Counter<'channel' | 'outcome'>;
  readonly notificationAttempts: Counter<'channel' | 'outcome'>;
  readonly summaries: Counter<'outcome'>;

  constructor(registry: Registry, store: AlertStore) {
    this.evaluations = new Counter({
      name: 'sluice_alert_rule_evaluations_total',
      help: 'Alert rule evaluations, by rule, rule type and outcome (ok, error)',
      labelNames: ['rule', 'type', 'outcome'],
      registers: [registry],
    });
    this.evaluationSeconds = new Histogram({
      name: 'sluice_alert_rule_evaluation_seconds',
      help: 'Time to evaluate one alert rule, by rule type',
      labelNames: ['type'],
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10],
      registers: [registry],
    });
    this.fired = new Counter({
      name: 'sluice_alerts_fired_total',
      help: 'Alerts that started firing, by severity',
      labelNames: ['severity'],
      registers: [registry],
    });
    this.resolved = new Counter({
      name: 'sluice_alerts_resolved_total',
      help: 'Alerts resolved, by severity',
      labelNames: ['severity'],
      registers: [registry],
    });
    this.notifications = new Counter({
      name: 'sluice_alert_notifications_total',
      help: 'Notifications by channel and final outcome (sent, failed after every retry)',
      labelNames: ['channel', 'outcome'],
      registers: [registry],
    });
    this.notificationAttempts = new Counter({
      name: 'sluice_alert_notification_attempts_total',
      help: 'Delivery attempts by channel and outcome (ok, error), retries included',
      labelNames: ['channel', 'outcome'],
      registers: [registry],
    });
    this.summaries = new Counter({
      name: 'sluice_alert_summaries_total',
      help: 'Scheduled or requested summaries, by outcome (sent, failed)',
      labelNames: ['outcome'],
      registers: [registry],
    });
    new Gauge({
      name: 'sluice_alerts_open',
      help: 'Alerts currently firing, by severity',
      labelNames: ['severity'],
      registers: [registry],
      async collect() {
        const firing = await store.listAlerts({ state: 'firing', limit: 1_000_000 });
        for (const s of SEVERITIES) this.set({ severity: s }, firing.filter((a) => a.severity === s).length);
      },
    });
  }
}

import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Applier } from '../apply/applier.js';
import type { DatasetRegistry } from '../core/dataset-registry.js';
import { durationMs } from '../core/duration.js';
import { SluiceError } from '../core/errors.js';
import type { UploadLifecycle } from '../ingest/uploads/upload-lifecycle.js';
import { QualityRecorder } from '../quality/quality-recorder.js';
import { QualityService } from '../quality/quality-service.js';
import type { ChannelStatus } from '../store/alert-store.js';
import type { MetaStore } from '../store/meta-store.js';
import type { SeriesStore } from '../store/series-store.js';
import {
  channelSpecSchema,
  ruleSpecSchema,
  type AlertsConfig,
  type ChannelSpec,
  type RuleSpec,
} from './alert-config.js';
import { AlertMetrics } from './alert-metrics.js';
import { AlertService } from './alert-service.js';
import type { AlertSink } from './alert-sink.js';
import { Evaluator } from './evaluator.js';
import { Dispatcher } from './notifiers/dispatcher.js';
import { Summaries } from './summary.js';

export type Origin = 'config' | 'api';

/**
 * Alerting and data quality, wired together: the alert service (also the `AlertSink` other
 * subsystems report to), the rule evaluator, the channels, scheduled summaries, and the quality
 * counters fed by every applied batch. Rules and channels come from the config file and from the API;
 * API-made ones are stored in the MetaStore and come back after a restart.
 */
export class Alerting {
  readonly metrics: AlertMetrics;
  readonly dispatcher: Dispatcher;
  readonly service: AlertService;
  readonly evaluator: Evaluator;
  readonly summaries: Summaries;
  readonly quality: QualityService;
  private readonly recorder: QualityRecorder;
  private readonly origins = { rules: new Map<string, Origin>(), channels: new Map<string, Origin>() };

  constructor(
    private readonly deps: {
      config: AlertsConfig;
      registry: DatasetRegistry;
      meta: MetaStore;
      series: SeriesStore;
      applier: Applier;
      lifecycle: UploadLifecycle;
      metricsRegistry: Registry;
      log: Logger;
      now?: () => number;
    },
  ) {
    const now = deps.now ?? Date.now;
    const { meta, log, config } = deps;
    const store = meta.alerts;
    this.metrics = new AlertMetrics(deps.metricsRegistry, store);
    this.dispatcher = new Dispatcher({
      store,
      metrics: this.metrics,
      log,
      attempts: config.notify.attempts,
      backoffMs: durationMs(config.notify.backoff),
    });
    this.service = new AlertService({
      store,
      dispatcher: this.dispatcher,
      metrics: this.metrics,
      log,
      channelsOf: (ruleId) => (ruleId === null ? undefined : this.evaluator.get(ruleId)?.spec.channels),
      now,
    });
    this.evaluator = new Evaluator({
      rules: { registry: deps.registry, series: deps.series, meta },
      store,
      alerts: this.service,
      metrics: this.metrics,
      log,
      now,
    });
    this.summaries = new Summaries({
      config: config.summary,
      periodMs: durationMs(config.summary.period),
      quality: meta.quality,
      store,
      dispatcher: this.dispatcher,
      metrics: this.metrics,
      log,
      now,
    });
    this.quality = new QualityService(deps.registry, meta);
    this.recorder = new QualityRecorder(meta, log, now);
    deps.applier.onBatchApplied((applied) => {
      this.recorder.onBatch(applied);
      this.evaluator.onBatch(applied);
    });
    deps.lifecycle.onFinished((row) => {
      const mode = deps.registry.find(row.dataset)?.layout.spec.mode ?? 'append';
      void this.recorder
        .onUploadFinished(row, mode)
        .catch((err: unknown) => log.error({ err }, 'quality of an upload'));
      void this.evaluator.onUpload(row);
    });
  }

  /** Where other subsystems (connector stoppage detection, …) report conditions. */
  get sink(): AlertSink {
    return this.service;
  }

  /** Loads channels, rules and silences (config first, then stored), then starts evaluating. */
  async start(): Promise<void> {
    const { config, meta } = this.deps;
    await this.service.load();
    for (const spec of config.channels) this.installChannel(spec, 'config');
    for (const def of await meta.alerts.listChannels()) {
      const parsed = channelSpecSchema.safeParse(def.spec);
      if (parsed.success && !this.origins.channels.has(def.id)) this.installChannel(parsed.data, 'api');
    }
    for (const spec of config.rules) {
      try {
        this.checkChannels(spec);
        await this.evaluator.set(spec);
      } catch (err) {
        throw new SluiceError('config_invalid', `alerts.rules ${spec.id}: ${(err as Error).message}`);
      }
      this.origins.rules.set(spec.id, 'config');
    }
    for (const def of await meta.alerts.listRules()) {
      if (this.origins.rules.has(def.id)) continue;
      const parsed = ruleSpecSchema.safeParse(def.spec);
      try {
        if (!parsed.success) throw new Error(parsed.error.message);
        await this.evaluator.set(parsed.data);
        this.origins.rules.set(def.id, 'api');
      } catch (err) {
        // A rule whose dataset was deleted stays stored, inactive, and is reported.
        this.deps.log.warn({ err, rule: def.id }, 'stored alert rule is not valid any more; skipped');
      }
    }
    this.evaluator.start(durationMs(config.evaluate_every));
    this.summaries.start();
  }

  async close(): Promise<void> {
    this.summaries.stop();
    await this.evaluator.close();
    await this.service.idle();
    await this.dispatcher.close();
  }

  /** Waits until queued alert changes and their notifications are done (tests). */
  async idle(): Promise<void> {
    await this.service.idle();
  }

  // rules

  rules(): { spec: RuleSpec; origin: Origin }[] {
    return this.evaluator
      .specs()
      .map((spec) => ({ spec, origin: this.origins.rules.get(spec.id) ?? 'api' }))
      .sort((a, b) => a.spec.id.localeCompare(b.spec.id));
  }

  rule(id: string): { spec: RuleSpec; origin: Origin } {
    const rule = this.evaluator.get(id);
    if (!rule) throw new SluiceError('alert_rule_not_found', `Unknown alert rule '${id}'`);
    return { spec: rule.spec, origin: this.origins.rules.get(id) ?? 'api' };
  }

  async createRule(spec: RuleSpec): Promise<void> {
    if (this.evaluator.get(spec.id))
      throw new SluiceError('alert_rule_exists', `An alert rule '${spec.id}' exists; delete it first`);
    this.checkChannels(spec);
    this.evaluator.check(spec);
    await this.deps.meta.alerts.putRule({ id: spec.id, spec, createdAt: Date.now() });
    await this.evaluator.set(spec);
    this.origins.rules.set(spec.id, 'api');
  }

  async deleteRule(id: string): Promise<void> {
    if (this.rule(id).origin === 'config')
      throw new SluiceError('alerting_in_config', `Rule '${id}' comes from the config file; change it there`);
    await this.deps.meta.alerts.deleteRule(id);
    await this.evaluator.remove(id);
    this.origins.rules.delete(id);
  }

  // channels

  async channels(): Promise<{ spec: ChannelSpec; origin: Origin; status: ChannelStatus | undefined }[]> {
    const statuses = new Map((await this.deps.meta.alerts.channelStatuses()).map((s) => [s.channel, s]));
    return this.dispatcher
      .specs()
      .map((spec) => ({
        spec,
        origin: this.origins.channels.get(spec.id) ?? 'api',
        status: statuses.get(spec.id),
      }))
      .sort((a, b) => a.spec.id.localeCompare(b.spec.id));
  }

  async channel(id: string) {
    const found = (await this.channels()).find((c) => c.spec.id === id);
    if (!found) throw new SluiceError('channel_not_found', `Unknown channel '${id}'`);
    return found;
  }

  async createChannel(spec: ChannelSpec): Promise<void> {
    if (this.dispatcher.has(spec.id))
      throw new SluiceError('channel_exists', `A channel '${spec.id}' exists; delete it first`);
    await this.deps.meta.alerts.putChannel({ id: spec.id, spec, createdAt: Date.now() });
    this.installChannel(spec, 'api');
  }

  async deleteChannel(id: string): Promise<void> {
    if ((await this.channel(id)).origin === 'config')
      throw new SluiceError(
        'alerting_in_config',
        `Channel '${id}' comes from the config file; change it there`,
      );
    await this.deps.meta.alerts.deleteChannel(id);
    this.dispatcher.remove(id);
    this.origins.channels.delete(id);
  }

  private installChannel(spec: ChannelSpec, origin: Origin): void {
    this.dispatcher.set(spec);
    this.origins.channels.set(spec.id, origin);
  }

  private checkChannels(spec: RuleSpec): void {
    for (const c of spec.channels ?? [])
      if (!this.dispatcher.has(c))
        throw new SluiceError('bad_request', `rule '${spec.id}' names unknown channel '${c}'`);
  }
}

import type { AlertSink } from '../alerts/alert-sink.js';
import type { DatasetRegistry } from '../core/dataset-registry.js';
import { SluiceError } from '../core/errors.js';
import type { Logger } from '../observability/logger.js';
import type { MetaStore } from '../store/meta-store.js';
import type { Clock } from './clock.js';
import { connectorSchema, publicConfig, type ConnectorConfig } from './connector-config.js';
import type { ConnectorMetrics } from './connector-metrics.js';
import {
  ConnectorRunner,
  CONNECTOR_SOURCE_PREFIX,
  type PageWriter,
  type RunnerHealth,
} from './connector-runner.js';
import type { CredentialVault } from './credential-vault.js';
import { createConnector, type EntitySource } from './create-connector.js';

export interface HostDeps {
  meta: MetaStore;
  registry: DatasetRegistry;
  writer: PageWriter & { acceptPrefix(prefix: string): void };
  /** Where applied batches are announced, so data latency is measured up to storage. */
  onBatchDone(listener: (source: string) => void): void;
  entities: EntitySource;
  vault: CredentialVault;
  sink: AlertSink;
  metrics: ConnectorMetrics;
  clock: Clock;
  log: Logger;
  /** Environment for `credentials.value_env`. */
  env: NodeJS.ProcessEnv;
}

type Credentials = ConnectorConfig['credentials'];

/**
 * Runs every connector in this process: the ones in the config file (re-read at each start) and the ones
 * created through the API (kept in the MetaStore). Each gets a `ConnectorRunner`, restored from its
 * durable state and health.
 */
export class ConnectorHost {
  private readonly runners = new Map<
    string,
    { runner: ConnectorRunner; config: ConnectorConfig; origin: string }
  >();

  constructor(private readonly deps: HostDeps) {
    deps.writer.acceptPrefix(CONNECTOR_SOURCE_PREFIX);
    deps.onBatchDone((source) => {
      if (!source.startsWith(CONNECTOR_SOURCE_PREFIX)) return;
      const id = source.slice(CONNECTOR_SOURCE_PREFIX.length, source.indexOf('.'));
      this.runners.get(id)?.runner.applied(source);
    });
  }

  async start(fromConfig: readonly ConnectorConfig[]): Promise<void> {
    for (const c of fromConfig) {
      this.checkDataset(c);
      await this.deps.meta.putConnector({
        id: c.id,
        origin: 'config',
        config: publicConfig(c),
        sealedCredentials: this.seal(c.id, c.credentials),
        paused: c.paused,
      });
    }
    const configured = new Map(fromConfig.map((c) => [c.id, c]));
    for (const row of await this.deps.meta.listConnectors()) {
      // A connector removed from the config file stops existing; API-created ones stay.
      if (row.origin === 'config' && !configured.has(row.id)) {
        await this.deps.meta.deleteConnector(row.id);
        continue;
      }
      const config = configured.get(row.id) ?? this.parseStored(row.id, row.config);
      if (!config) continue;
      this.launch(
        config,
        row.origin,
        row.paused,
        row.sealedCredentials,
        row.state,
        row.health as RunnerHealth | null,
      );
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.runners.values()].map((r) => r.runner.stop()));
    this.runners.clear();
  }

  async create(input: unknown): Promise<Record<string, unknown>> {
    const parsed = connectorSchema.safeParse(input);
    if (!parsed.success)
      throw new SluiceError(
        'validation_failed',
        parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      );
    const config = parsed.data;
    if (this.runners.has(config.id) || (await this.deps.meta.getConnector(config.id)))
      throw new SluiceError('connector_exists', `A connector '${config.id}' already exists`);
    this.checkDataset(config);
    const sealed = this.seal(config.id, config.credentials);
    await this.deps.meta.putConnector({
      id: config.id,
      origin: 'api',
      config: publicConfig(config),
      sealedCredentials: sealed,
      paused: config.paused,
    });
    this.launch(config, 'api', config.paused, sealed, null, null);
    return this.view(config.id);
  }

  list(): Record<string, unknown>[] {
    return [...this.runners.keys()].sort().map((id) => this.view(id));
  }

  view(id: string): Record<string, unknown> {
    const { runner, config, origin } = this.get(id);
    const h = runner.health().detector;
    return {
      id,
      kind: config.kind,
      dataset: config.dataset,
      origin,
      status: runner.isPaused ? 'paused' : runner.isAuthBlocked ? 'credentials_stopped' : 'running',
      health: {
        last_success_at: iso(h.lastSuccessAt),
        last_record_at: iso(h.lastRecordAt),
        error_streak: h.errorStreak,
        auth_failures: h.authFailures,
        stoppages: runner.detector.openStoppages().map((s) => ({ ...s, since: iso(s.since) })),
      },
      stats: runner.stats.view(),
      limits: runner.usage(),
      schedule: runner.describeConnector(),
      config: publicConfig(config),
    };
  }

  async pause(id: string): Promise<Record<string, unknown>> {
    this.get(id).runner.pause();
    await this.deps.meta.setConnectorPaused(id, true);
    return this.view(id);
  }

  async resume(id: string): Promise<Record<string, unknown>> {
    this.get(id).runner.resume();
    await this.deps.meta.setConnectorPaused(id, false);
    return this.view(id);
  }

  async probe(id: string): Promise<{ ok: boolean; detail: string }> {
    return this.get(id).runner.probe();
  }

  async setCredentials(id: string, input: unknown): Promise<Record<string, unknown>> {
    const entry = this.get(id);
    const parsed = connectorSchema.options[0].shape.credentials.safeParse(input);
    if (!parsed.success || !parsed.data?.value)
      throw new SluiceError('validation_failed', 'Give credentials as {"header": "...", "value": "..."}');
    const sealed = this.seal(id, parsed.data)!;
    await this.deps.meta.setConnectorCredentials(id, sealed);
    entry.runner.setCredentials({ header: parsed.data.header, value: parsed.data.value });
    await this.deps.meta.setConnectorPaused(id, false);
    return this.view(id);
  }

  private launch(
    config: ConnectorConfig,
    origin: string,
    paused: boolean,
    sealed: string | null,
    state: unknown,
    health: RunnerHealth | null,
  ): void {
    const connector = createConnector(config, this.deps.entities);
    if (state !== null && state !== undefined) connector.restore(state as never);
    const runner = new ConnectorRunner({
      config,
      connector,
      clock: this.deps.clock,
      meta: this.deps.meta,
      writer: this.deps.writer,
      sink: this.deps.sink,
      metrics: this.deps.metrics,
      log: this.deps.log,
      credentials: this.unseal(config.id, config.credentials?.header ?? 'authorization', sealed),
      paused,
      health,
    });
    this.runners.set(config.id, { runner, config, origin });
    runner.start();
  }

  private get(id: string) {
    const entry = this.runners.get(id);
    if (!entry) throw new SluiceError('connector_not_found', `No connector '${id}'`);
    return entry;
  }

  private checkDataset(c: ConnectorConfig): void {
    const { layout } = this.deps.registry.get(c.dataset);
    if (layout.spec.mode !== 'append')
      throw new SluiceError(
        'unsupported_for_mode',
        `Connector '${c.id}': dataset '${c.dataset}' must be append mode`,
      );
  }

  private parseStored(id: string, stored: unknown): ConnectorConfig | null {
    const parsed = connectorSchema.safeParse({ ...(stored as object), credentials: undefined });
    if (parsed.success) return parsed.data;
    this.deps.log.error(
      { connector: id, issues: parsed.error.issues },
      'stored connector config is invalid; not started',
    );
    return null;
  }

  private seal(id: string, c: Credentials): string | null {
    const value = c?.value ?? (c?.value_env ? this.deps.env[c.value_env] : undefined);
    if (!c || !value) return null;
    return this.deps.vault.seal(JSON.stringify({ header: c.header, value }), id);
  }

  private unseal(
    id: string,
    header: string,
    sealed: string | null,
  ): { header: string; value: string } | null {
    if (sealed === null) return null;
    try {
      return JSON.parse(this.deps.vault.open(sealed, id)) as { header: string; value: string };
    } catch (err) {
      // A changed SLUICE_SECRET_KEY: the provider will answer 401 and the connector stops with a cause.
      this.deps.log.error({ err, connector: id }, 'stored credentials cannot be decrypted; set them again');
      return { header, value: '' };
    }
  }
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

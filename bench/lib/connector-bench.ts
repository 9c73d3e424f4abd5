import { Registry } from 'prom-client';
import type { AlertEvent, AlertSink } from '../../src/alerts/alert-sink.js';
import type { Clock } from '../../src/connectors/clock.js';
import { connectorSchema, type ConnectorConfigInput } from '../../src/connectors/connector-config.js';
import { ConnectorMetrics } from '../../src/connectors/connector-metrics.js';
import { ConnectorRunner, type PageWriter } from '../../src/connectors/connector-runner.js';
import type { Connector } from '../../src/connectors/connector.js';
import { createLogger } from '../../src/observability/logger.js';
import type { MetaStore } from '../../src/store/meta-store.js';

/** A sink that keeps alerts for the report. */
export class KeptAlerts implements AlertSink {
  readonly events: AlertEvent[] = [];
  raise(e: AlertEvent): void {
    this.events.push(e);
  }
  resolve(): void {}
}

/**
 * A connector under the real host runner (rate cap, backoff, stats) writing to `writer`; for benches
 * that measure the schedule rather than the storage.
 */
export function benchRunner(opts: {
  input: ConnectorConfigInput;
  connector: (config: ReturnType<typeof connectorSchema.parse>) => Connector;
  clock: Clock;
  meta: MetaStore;
  writer: (runner: () => ConnectorRunner) => PageWriter;
  sink?: AlertSink;
}): ConnectorRunner {
  const config = connectorSchema.parse(opts.input);
  const runner: ConnectorRunner = new ConnectorRunner({
    config,
    connector: opts.connector(config),
    clock: opts.clock,
    meta: opts.meta,
    writer: opts.writer(() => runner),
    sink: opts.sink ?? new KeptAlerts(),
    metrics: new ConnectorMetrics(new Registry()),
    log: createLogger('silent'),
    credentials: config.credentials?.value
      ? { header: config.credentials.header, value: config.credentials.value }
      : null,
    paused: false,
    health: null,
  });
  return runner;
}

/** p50/p99/max of seconds, rounded; nulls when empty. */
export function quantiles(values: number[]): {
  count: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
} {
  if (values.length === 0) return { count: 0, p50: null, p99: null, max: null };
  const s = Float64Array.from(values).sort();
  const at = (p: number) => Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]! * 1000) / 1000;
  return { count: s.length, p50: at(0.5), p99: at(0.99), max: Math.round(s[s.length - 1]! * 1000) / 1000 };
}

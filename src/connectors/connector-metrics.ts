import { Counter, Histogram, type Registry } from 'prom-client';

/** Connector figures in /metrics; the same figures per connector are in GET /v1/connectors/{id}. */
export class ConnectorMetrics {
  readonly calls: Counter<'connector' | 'outcome'>;
  readonly cost: Counter<'connector'>;
  readonly records: Counter<'connector'>;
  readonly emptyCalls: Counter<'connector'>;
  readonly errors: Counter<'connector' | 'class'>;
  readonly samples: Counter<'connector' | 'outcome'>;
  readonly latency: Histogram<'connector'>;

  constructor(registry: Registry) {
    this.calls = new Counter({
      name: 'sluice_connector_calls_total',
      help: 'Calls made to providers, by outcome (ok, credentials, rate_limited, provider_error, timeout, network)',
      labelNames: ['connector', 'outcome'],
      registers: [registry],
    });
    this.cost = new Counter({
      name: 'sluice_connector_cost_cents_total',
      help: 'Provider cost of the calls made, in cents (every answered call costs, empty or not)',
      labelNames: ['connector'],
      registers: [registry],
    });
    this.records = new Counter({
      name: 'sluice_connector_records_total',
      help: 'Records fetched and written durably',
      labelNames: ['connector'],
      registers: [registry],
    });
    this.emptyCalls = new Counter({
      name: 'sluice_connector_empty_calls_total',
      help: 'Successful calls that returned no records',
      labelNames: ['connector'],
      registers: [registry],
    });
    this.errors = new Counter({
      name: 'sluice_connector_errors_total',
      help: 'Failures by class: credentials, provider_error, rate_limited, pipeline_error',
      labelNames: ['connector', 'class'],
      registers: [registry],
    });
    this.samples = new Counter({
      name: 'sluice_connector_samples_total',
      help: 'Entity-poll samples by outcome: ok (on time), late, missed',
      labelNames: ['connector', 'outcome'],
      registers: [registry],
    });
    this.latency = new Histogram({
      name: 'sluice_connector_data_latency_seconds',
      help: 'Time from a record becoming available at the provider to its being stored (applied)',
      labelNames: ['connector'],
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800],
      registers: [registry],
    });
  }
}

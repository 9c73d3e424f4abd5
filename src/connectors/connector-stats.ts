import { QuantileSketch } from '../query/quantile-sketch.js';
import type { ConnectorMetrics } from './connector-metrics.js';
import type { CallOutcome } from './provider-call.js';

/** Counters that survive a restart (saved with the connector's health). */
export interface StatsState {
  calls: number;
  cost_cents: number;
  records: number;
  rejected: number;
  empty_calls: number;
  errors: Record<string, number>;
  samples: { ok: number; late: number; missed: number };
}

/**
 * A connector's figures, kept by the host: in /metrics (Prometheus counters) and, per connector, in
 * GET /v1/connectors/{id}. Latency quantiles cover records stored since this process started.
 */
export class ConnectorStats {
  private readonly s: StatsState;
  private readonly latency = new QuantileSketch();
  private maxLatencyS = 0;

  constructor(
    private readonly id: string,
    private readonly metrics: ConnectorMetrics,
    restored?: StatsState | null,
  ) {
    this.s = restored
      ? structuredClone(restored)
      : {
          calls: 0,
          cost_cents: 0,
          records: 0,
          rejected: 0,
          empty_calls: 0,
          errors: {},
          samples: { ok: 0, late: 0, missed: 0 },
        };
  }

  get state(): StatsState {
    return structuredClone(this.s);
  }

  /** One attempt: `answered` calls are priced (the provider counts them), failed connections are not. */
  call(outcome: CallOutcome['kind'], answered: boolean, costCents: number): void {
    this.s.calls++;
    this.metrics.calls.inc({ connector: this.id, outcome });
    if (answered && costCents > 0) {
      this.s.cost_cents += costCents;
      this.metrics.cost.inc({ connector: this.id }, costCents);
    }
    if (outcome !== 'ok') this.error(outcome);
  }

  /** After a successful call: how many records it brought. */
  fetched(records: number): void {
    if (records === 0) {
      this.s.empty_calls++;
      this.metrics.emptyCalls.inc({ connector: this.id });
    }
  }

  recordsWritten(records: number, rejected: number): void {
    this.s.records += records;
    this.s.rejected += rejected;
    this.metrics.records.inc({ connector: this.id }, records);
  }

  error(cls: string): void {
    this.s.errors[cls] = (this.s.errors[cls] ?? 0) + 1;
    this.metrics.errors.inc({ connector: this.id, class: cls });
  }

  samples(outcome: 'ok' | 'late' | 'missed', n: number): void {
    this.s.samples[outcome] += n;
    this.metrics.samples.inc({ connector: this.id, outcome }, n);
  }

  latencies(storedAt: number, availableAt: readonly number[]): void {
    const h = this.metrics.latency.labels({ connector: this.id });
    for (const t of availableAt) {
      const s = Math.max(0, (storedAt - t) / 1000);
      h.observe(s);
      this.latency.add(s);
      if (s > this.maxLatencyS) this.maxLatencyS = s;
    }
  }

  view() {
    const q = (p: number) => (this.latency.count > 0 ? round(this.latency.quantile(p)) : null);
    return {
      ...this.state,
      cost_cents: round(this.s.cost_cents),
      empty_call_share: this.s.calls > 0 ? round(this.s.empty_calls / this.s.calls) : null,
      latency_seconds: {
        count: this.latency.count,
        p50: q(0.5),
        p99: q(0.99),
        max: this.latency.count > 0 ? round(this.maxLatencyS) : null,
      },
    };
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

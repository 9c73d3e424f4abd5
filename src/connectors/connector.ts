import type { Clock } from './clock.js';

/**
 * The pull-source port. A connector knows one provider's protocol: what to ask for next, how to read the
 * answer, and when to ask again. Everything else (rate cap, budget, retries with backoff, credentials,
 * durable writes, metrics, stoppage detection) is the host's, reached through the `ConnectorContext`,
 * so connectors do not measure themselves.
 *
 * Lifecycle: `init(config)` validates and makes no network call; `restore(state)` hands back the last
 * durable state; `run(ctx)` polls until `ctx.signal` aborts; `probe(ctx)` makes one harmless call.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

export interface CallRequest {
  url: string;
  /** Give up (and report a missed call) if no success by this clock time; retry forever otherwise. */
  deadline?: number;
}

export interface CallResponse {
  status: number;
  body: unknown;
  /** Clock time when the call started (after waiting for the rate cap). */
  startedAt: number;
}

export interface Page {
  /** Rows as dataset records (column name → value). */
  records: Record<string, unknown>[];
  /**
   * Identifies the page so that writing it again (after a crash) is applied once; null for pages
   * that are never re-fetched as-is.
   */
  pageId: string | null;
  /** Availability time (clock ms) of each record, when known: latency is measured from it. */
  availableAt?: number[];
}

export interface ConnectorContext {
  readonly id: string;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  /**
   * One call to the provider. Waits for the rate cap and budget, retries retriable failures with
   * backoff, and blocks while credentials are rejected, until it succeeds, the deadline passes
   * (resolves null) or the connector stops (rejects with an AbortError).
   */
  call(req: CallRequest): Promise<CallResponse | null>;
  /** Writes a page durably (BatchLog); retries on failure. Resolves once the rows cannot be lost. */
  emit(page: Page): Promise<void>;
  /** Persists the connector's state (its cursor); call it after `emit` resolved. */
  saveState(): Promise<void>;
  /** Counts samples missed or started late (entity polling). */
  countSamples(outcome: 'ok' | 'late' | 'missed', n?: number): void;
  /** Reports how many records a poll brought, for no_data detection (0 is an observation too). */
  observe(records: number): void;
  /** Clock time when the next call may start under the rate cap and budget. */
  nextCallAt(): number;
}

export interface Connector {
  readonly kind: string;
  state(): JsonValue;
  restore(state: JsonValue): void;
  run(ctx: ConnectorContext): Promise<void>;
  probe(ctx: ConnectorContext): Promise<{ ok: boolean; detail: string }>;
  /** Figures for GET /v1/connectors/{id} that only the connector knows (schedule, cursor). */
  describe(): Record<string, JsonValue>;
}

import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { Agent } from 'undici';
import type { AlertSink } from '../alerts/alert-sink.js';
import { HolidayCalendar } from '../calendar/holiday-calendar.js';
import { durationMs } from '../core/duration.js';
import type { Logger } from '../observability/logger.js';
import type { MetaStore } from '../store/meta-store.js';
import { backoffMs, parseRetryAfter } from './backoff.js';
import { isAbortError, type Clock } from './clock.js';
import type { ConnectorConfig } from './connector-config.js';
import type { ConnectorMetrics } from './connector-metrics.js';
import { ConnectorStats, type StatsState } from './connector-stats.js';
import type { CallRequest, CallResponse, Connector, ConnectorContext, Page } from './connector.js';
import { providerCall, providerHeaders } from './provider-call.js';
import { StoppageDetector, type DetectorState } from './stoppage-detector.js';
import { WindowLimiter } from './window-limiter.js';

/** What the runner needs from the pipeline: a durable write of NDJSON rows under a source id. */
export interface PageWriter {
  write(
    dataset: string,
    ndjson: Buffer,
    opts: { client: null; source: string; waitApplied: false },
  ): Promise<{ rows: { total: number; invalid: number } }>;
}

export interface RunnerDeps {
  config: ConnectorConfig;
  connector: Connector;
  clock: Clock;
  meta: MetaStore;
  writer: PageWriter;
  sink: AlertSink;
  metrics: ConnectorMetrics;
  log: Logger;
  credentials: { header: string; value: string } | null;
  paused: boolean;
  health: RunnerHealth | null;
}

export interface RunnerHealth {
  detector: DetectorState;
  stats: StatsState;
  auth_blocked: boolean;
}

/** Source ids of connector pages start with this; the Applier accepts them after a crash too. */
export const CONNECTOR_SOURCE_PREFIX = 'c_';
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;
/** How often silence is judged, in clock time. */
const TICK_MS = 15_000;

/**
 * The host side of one connector: it is the connector's `ConnectorContext`. Calls go through the rate
 * cap and budget, are classified and counted, and failures back off with jitter; a rejected key stops
 * calls until the connector is resumed, probed successfully or given new credentials. Pages are written
 * to the BatchLog (durable, applied exactly once) and the connector saves its cursor only after that.
 */
export class ConnectorRunner implements ConnectorContext {
  readonly id: string;
  readonly clock: Clock;
  readonly stats: ConnectorStats;
  readonly detector: StoppageDetector;
  private readonly abort = new AbortController();
  private readonly rate: WindowLimiter | null;
  private readonly budget: WindowLimiter | null;
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  /** Request headers of every call: the configured ones, the credentials, `accept`. */
  private headers: Record<string, string>;
  private paused: boolean;
  private authBlocked: boolean;
  private wake: { promise: Promise<void>; resolve: () => void } = released();
  private running: Promise<void>[] = [];
  /** Availability times of pages written but not yet applied, by source id. */
  private readonly pending = new Map<string, number[]>();

  constructor(private readonly deps: RunnerDeps) {
    const { config, clock } = deps;
    this.id = config.id;
    this.clock = clock;
    // Every sleeping or calling task listens for the stop; an entity poll has `concurrency` of them.
    setMaxListeners(0, this.abort.signal);
    this.headers = providerHeaders(config.headers, deps.credentials);
    this.paused = deps.paused;
    this.authBlocked = deps.health?.auth_blocked ?? false;
    this.rate = config.rate_limit
      ? new WindowLimiter(config.rate_limit.calls, durationMs(config.rate_limit.per), clock)
      : null;
    this.budget =
      config.budget && config.cost_per_call > 0
        ? new WindowLimiter(
            Math.max(1, Math.floor(config.budget.cents / config.cost_per_call)),
            durationMs(config.budget.per),
            clock,
          )
        : null;
    const concurrency = config.kind === 'entity-poll' ? config.concurrency : 1;
    this.agent = new Agent({ connections: concurrency, keepAliveTimeout: 60_000, pipelining: 1 });
    this.timeoutMs = Math.max(1, Math.round(clock.realMs(durationMs(config.timeout))));
    this.stats = new ConnectorStats(config.id, deps.metrics, deps.health?.stats);
    const h = config.stoppage.holidays;
    this.detector = new StoppageDetector(
      `connector:${config.id}`,
      deps.sink,
      {
        errorStreak: config.stoppage.error_streak,
        pipelineStreak: config.stoppage.pipeline_streak,
        minSilenceMs: durationMs(config.stoppage.min_silence),
        minExpected: config.stoppage.min_expected,
        holidays: new HolidayCalendar({ country: h.country, state: h.state, extraDates: h.extra_dates }),
      },
      clock.now(),
      deps.health?.detector,
    );
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  get isAuthBlocked(): boolean {
    return this.authBlocked;
  }

  start(): void {
    this.running = [this.runLoop(), this.tickLoop()];
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wake.resolve();
    await Promise.all(this.running);
    await this.saveState().catch(() => undefined);
    await this.agent.close();
  }

  pause(): void {
    this.paused = true;
  }

  /** Resumes calls, also after a credentials stop (the operator says the key is fixed). */
  resume(): void {
    this.paused = false;
    this.authBlocked = false;
    this.detector.restartSilence(this.clock.now());
    this.wakeUp();
  }

  setCredentials(c: { header: string; value: string } | null): void {
    this.headers = providerHeaders(this.deps.config.headers, c);
    this.resume();
  }

  async probe(): Promise<{ ok: boolean; detail: string }> {
    return this.deps.connector.probe({ ...this.contextFor(true) });
  }

  // ConnectorContext

  call(req: CallRequest): Promise<CallResponse | null> {
    return this.callWith(req, false);
  }

  async emit(page: Page): Promise<void> {
    if (page.records.length === 0) return;
    const source = `${CONNECTOR_SOURCE_PREFIX}${this.id}.${page.pageId ?? randomBytes(9).toString('base64url')}`;
    const body = Buffer.from(page.records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    if (page.availableAt) this.remember(source, page.availableAt);
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.deps.writer.write(this.deps.config.dataset, body, {
          client: null,
          source,
          waitApplied: false,
        });
        this.stats.recordsWritten(page.records.length, res.rows.invalid);
        this.detector.pipelineSucceeded(this.clock.now());
        return;
      } catch (e) {
        if (this.signal.aborted) throw e;
        this.stats.error('pipeline_error');
        this.detector.pipelineFailed(this.clock.now(), e instanceof Error ? e.message : String(e));
        this.deps.log.warn({ err: e, connector: this.id }, 'writing a fetched page failed; retrying');
        await this.clock.sleep(
          backoffMs(attempt, { baseMs: BACKOFF_BASE_MS, maxMs: BACKOFF_MAX_MS }),
          this.signal,
        );
      }
    }
  }

  async saveState(): Promise<void> {
    await this.deps.meta.saveConnectorState(this.id, this.deps.connector.state(), this.health());
  }

  countSamples(outcome: 'ok' | 'late' | 'missed', n = 1): void {
    this.stats.samples(outcome, n);
  }

  observe(records: number): void {
    this.stats.fetched(records);
    this.detector.observe(this.clock.now(), records);
  }

  nextCallAt(): number {
    return Math.max(this.rate?.nextFreeAt() ?? 0, this.budget?.nextFreeAt() ?? 0, this.clock.now());
  }

  /** A page's batch was applied: its records are stored, so their latency is known. */
  applied(source: string): void {
    const times = this.pending.get(source);
    if (!times) return;
    this.pending.delete(source);
    this.stats.latencies(this.clock.now(), times);
  }

  describeConnector(): Record<string, unknown> {
    return this.deps.connector.describe();
  }

  health(): RunnerHealth {
    return { detector: this.detector.state, stats: this.stats.state, auth_blocked: this.authBlocked };
  }

  usage(): Record<string, number | null> {
    return {
      rate_window_calls: this.rate?.used() ?? null,
      rate_limit: this.rate?.limit ?? null,
      budget_window_calls: this.budget?.used() ?? null,
      budget_calls: this.budget?.limit ?? null,
    };
  }

  private contextFor(probe: boolean): ConnectorContext {
    return {
      id: this.id,
      clock: this.clock,
      signal: this.signal,
      call: (req) => this.callWith(req, probe),
      emit: (p) => this.emit(p),
      saveState: () => this.saveState(),
      countSamples: (o, n) => this.countSamples(o, n),
      observe: (n) => this.observe(n),
      nextCallAt: () => this.nextCallAt(),
    };
  }

  private async callWith(req: CallRequest, probe: boolean): Promise<CallResponse | null> {
    const deadline = probe ? this.clock.now() : req.deadline;
    for (let attempt = 0; ; attempt++) {
      // Awaiting only when there is something to wait for: an entity poll makes thousands of calls a second.
      if (!probe && (this.paused || this.authBlocked)) await this.gate();
      this.signal.throwIfAborted();
      const releases = this.rate || this.budget ? await this.slot(deadline) : NO_RELEASES;
      if (!releases) return null;
      const startedAt = this.clock.now();
      let outcome;
      try {
        outcome = await providerCall(req.url, {
          dispatcher: this.agent,
          headers: this.headers,
          timeoutMs: this.timeoutMs,
          signal: this.signal,
        });
      } finally {
        for (const r of releases) r();
      }
      const now = this.clock.now();
      this.stats.call(outcome.kind, outcome.status !== null, this.deps.config.cost_per_call);
      let retryAfter: string | string[] | undefined;
      switch (outcome.kind) {
        case 'ok':
          if (this.authBlocked) this.resume();
          this.detector.callSucceeded(now);
          return { status: outcome.status, body: outcome.body, startedAt };
        case 'credentials':
          this.authBlocked = true;
          this.detector.authFailed(now, outcome.status);
          this.deps.log.warn(
            { connector: this.id, status: outcome.status },
            'credentials rejected; calls stopped',
          );
          if (probe) return null;
          continue;
        case 'rate_limited':
          retryAfter = outcome.retryAfter;
          break;
        case 'provider_error':
          retryAfter = outcome.retryAfter;
          this.detector.providerFailed(now, outcome.detail);
          break;
      }
      const delay = backoffMs(attempt, {
        baseMs: BACKOFF_BASE_MS,
        maxMs: BACKOFF_MAX_MS,
        retryAfterMs: parseRetryAfter(retryAfter, now),
      });
      if (deadline !== undefined && now + delay > deadline) return null;
      await this.clock.sleep(delay, this.signal);
    }
  }

  /** Waits for a free slot under the rate cap and the budget; null if none comes before the deadline. */
  private async slot(deadline: number | undefined): Promise<(() => void)[] | null> {
    for (;;) {
      this.signal.throwIfAborted();
      const at = this.nextCallAt();
      const now = this.clock.now();
      if (at > now && deadline !== undefined && at > deadline) return null;
      if (at <= now) {
        // Both limiters said "free now", and nothing runs between these two lines: both succeed.
        const a = this.rate ? this.rate.tryAcquire() : noop;
        const b = this.budget ? this.budget.tryAcquire() : noop;
        if (a && b) return [a, b];
        throw new Error('rate limiter disagreed with itself');
      }
      // Every slot is held by a call in flight: look again shortly.
      await this.clock.sleep(Number.isFinite(at) ? Math.max(at - now, 1) : 100, this.signal);
    }
  }

  /** Blocks while paused or while the provider rejects our credentials. */
  private async gate(): Promise<void> {
    while (this.paused || this.authBlocked) {
      this.signal.throwIfAborted();
      await this.wake.promise;
    }
    this.signal.throwIfAborted();
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = released();
    w.resolve();
  }

  private async runLoop(): Promise<void> {
    for (let attempt = 0; !this.signal.aborted; attempt++) {
      try {
        await this.deps.connector.run(this);
        return;
      } catch (e) {
        if (this.signal.aborted || isAbortError(e)) return;
        // The connector's own failure (a response it cannot read, a bug): ours to fix, not the provider's.
        this.stats.error('pipeline_error');
        this.detector.pipelineFailed(this.clock.now(), e instanceof Error ? e.message : String(e));
        this.deps.log.error({ err: e, connector: this.id }, 'connector failed; restarting it');
        try {
          await this.clock.sleep(
            backoffMs(attempt, { baseMs: BACKOFF_BASE_MS, maxMs: BACKOFF_MAX_MS }),
            this.signal,
          );
        } catch {
          return;
        }
      }
    }
  }

  private async tickLoop(): Promise<void> {
    while (!this.signal.aborted) {
      try {
        await this.clock.sleep(TICK_MS, this.signal);
      } catch {
        return;
      }
      if (this.paused) {
        this.detector.restartSilence(this.clock.now());
        continue;
      }
      this.detector.tick(this.clock.now());
      await this.saveState().catch((err: unknown) =>
        this.deps.log.warn({ err, connector: this.id }, 'saving connector health failed'),
      );
    }
  }

  private remember(source: string, times: number[]): void {
    // Pages of a dropped dataset are never applied; keep the map bounded all the same.
    if (this.pending.size >= 10_000) this.pending.delete(this.pending.keys().next().value!);
    this.pending.set(source, times);
  }
}

const noop = (): void => undefined;
const NO_RELEASES: (() => void)[] = [];

function released(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

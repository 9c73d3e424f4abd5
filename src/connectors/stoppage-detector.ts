import type { AlertSink, AlertSeverity } from '../alerts/alert-sink.js';
import { HolidayCalendar } from '../calendar/holiday-calendar.js';
import { SeasonalBaseline, type SeasonalBaselineState } from '../calendar/seasonal-baseline.js';

export type StoppageKind = 'credentials' | 'provider_error' | 'pipeline_error' | 'no_data';

const SEVERITY: Record<StoppageKind, AlertSeverity> = {
  credentials: 'critical',
  provider_error: 'warning',
  pipeline_error: 'critical',
  no_data: 'warning',
};

export interface Stoppage {
  kind: StoppageKind;
  since: number;
  description: string;
}

export interface DetectorOptions {
  errorStreak: number;
  pipelineStreak: number;
  minSilenceMs: number;
  minExpected: number;
  holidays: HolidayCalendar;
}

/** What survives a restart: last success, last record, streaks, open stoppages, the learnt baseline. */
export interface DetectorState {
  lastSuccessAt: number | null;
  lastRecordAt: number | null;
  firstSeenAt: number | null;
  recordsSeen: number;
  errorStreak: number;
  pipelineStreak: number;
  authFailures: number;
  open: Stoppage[];
  baseline: SeasonalBaselineState | null;
}

/**
 * Per-source stoppage detection. Each condition is classified by its cause, raised once to the alert
 * sink (and kept here for GET /v1/connectors/{id}), and resolved when the cause goes away.
 *
 * `no_data` is judged only while calls succeed: a rejected key or a failing provider already explains
 * silence. Silence is unexpected when the seasonal baseline for those hours of the week, minus holidays,
 * predicted enough records; until the baseline has seen an hour of the week, the source's own long-run
 * rate stands in, so a new connector is not blind for its first week.
 */
export class StoppageDetector {
  private readonly s: DetectorState;
  private readonly baseline: SeasonalBaseline;
  /** Silence is counted from here: the last record, or the last (re)start or resume. */
  private quietSince: number;

  constructor(
    private readonly source: string,
    private readonly sink: AlertSink,
    private readonly opts: DetectorOptions,
    now: number,
    restored?: DetectorState | null,
  ) {
    this.s = restored
      ? structuredClone(restored)
      : {
          lastSuccessAt: null,
          lastRecordAt: null,
          firstSeenAt: null,
          recordsSeen: 0,
          errorStreak: 0,
          pipelineStreak: 0,
          authFailures: 0,
          open: [],
          baseline: null,
        };
    this.baseline = new SeasonalBaseline(this.s.baseline ?? undefined);
    this.quietSince = Math.max(this.s.lastRecordAt ?? now, now);
    // Re-announce what was open before a restart: the sink may be new (it keeps one alert per kind).
    for (const o of this.s.open) this.sink.raise(this.event(o, now));
  }

  get state(): DetectorState {
    return { ...structuredClone(this.s), baseline: this.baseline.toJSON() };
  }

  openStoppages(): readonly Stoppage[] {
    return this.s.open;
  }

  callSucceeded(now: number): void {
    this.s.lastSuccessAt = now;
    this.s.errorStreak = 0;
    this.close('provider_error', now);
    this.close('credentials', now);
  }

  authFailed(now: number, status: number): void {
    this.s.authFailures++;
    this.open(
      'credentials',
      now,
      `The provider rejected the credentials (HTTP ${status}); calls are stopped until the connector is resumed or its credentials are updated`,
    );
  }

  providerFailed(now: number, detail: string): void {
    this.s.errorStreak++;
    if (this.s.errorStreak >= this.opts.errorStreak)
      this.open(
        'provider_error',
        now,
        `${this.s.errorStreak} calls in a row failed at the provider (last: ${detail}); retrying with backoff`,
      );
  }

  pipelineFailed(now: number, detail: string): void {
    this.s.pipelineStreak++;
    if (this.s.pipelineStreak >= this.opts.pipelineStreak)
      this.open(
        'pipeline_error',
        now,
        `Fetched records could not be written (${detail}); retrying, cursor held`,
      );
  }

  pipelineSucceeded(now: number): void {
    this.s.pipelineStreak = 0;
    this.close('pipeline_error', now);
  }

  /** A poll brought `records` records (zero included). */
  observe(now: number, records: number): void {
    this.baseline.observe(now, records);
    this.s.firstSeenAt ??= now;
    if (records > 0) {
      this.s.recordsSeen += records;
      this.s.lastRecordAt = now;
      this.quietSince = now;
      this.close('no_data', now);
    }
  }

  /** Silence only counts from here (after a pause or a credentials stop ends). */
  restartSilence(now: number): void {
    this.quietSince = Math.max(this.quietSince, now);
  }

  /** Periodic check for `no_data`. */
  tick(now: number): void {
    this.baseline.advance(now);
    if (this.s.open.some((o) => o.kind !== 'no_data')) return;
    const silentMs = now - this.quietSince;
    if (silentMs < this.opts.minSilenceMs) return;
    const verdict = this.baseline.judgeSilence(
      this.quietSince,
      now,
      this.opts.holidays,
      this.opts.minExpected,
      this.longRunPerHour(),
    );
    if (!verdict.unexpected) return;
    const holiday = this.opts.holidays.holidayAt(now);
    this.open(
      'no_data',
      now,
      `Calls succeed but no records for ${Math.round(silentMs / 60_000)} min, where about ${Math.round(verdict.expected)} were expected${holiday ? '' : ' (not a holiday)'}`,
    );
  }

  private longRunPerHour(): number | undefined {
    const { firstSeenAt, lastRecordAt, recordsSeen } = this.s;
    if (firstSeenAt === null || lastRecordAt === null) return undefined;
    const spanMs = lastRecordAt - firstSeenAt;
    // Less than ten minutes of history is too little to expect anything of a source.
    return spanMs >= 600_000 ? (recordsSeen / spanMs) * 3_600_000 : undefined;
  }

  private open(kind: StoppageKind, now: number, description: string): void {
    if (this.s.open.some((o) => o.kind === kind)) return;
    const stoppage = { kind, since: now, description };
    this.s.open.push(stoppage);
    this.sink.raise(this.event(stoppage, now));
  }

  private close(kind: StoppageKind, now: number): void {
    const i = this.s.open.findIndex((o) => o.kind === kind);
    if (i < 0) return;
    this.s.open.splice(i, 1);
    this.sink.resolve(this.source, kind, now);
  }

  private event(o: Stoppage, now: number) {
    return {
      source: this.source,
      kind: o.kind,
      severity: SEVERITY[o.kind],
      description: o.description,
      at: now,
      labels: { since: new Date(o.since).toISOString() },
    };
  }
}

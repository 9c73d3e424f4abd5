import type { Logger } from 'pino';
import { SluiceError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { AlertFilter, AlertRow, AlertStore, SilenceRow } from '../store/alert-store.js';
import type { AlertEvent, AlertSeverity, AlertSink } from './alert-sink.js';
import type { AlertMetrics } from './alert-metrics.js';
import { alertNotification, silenceMatches } from './alert-view.js';
import type { Dispatcher } from './notifiers/dispatcher.js';

const RANK: Record<AlertSeverity, number> = { info: 0, warning: 1, critical: 2 };

/** A condition reported by a rule or another subsystem. */
export interface FireInput {
  ruleId: string | null;
  source: string;
  kind: string;
  groupKey: string;
  severity: AlertSeverity;
  description: string;
  labels: Record<string, string>;
  value: number | null;
  at: number;
}

export function fingerprintOf(source: string, kind: string, groupKey: string): string {
  return `${source}\u001f${kind}\u001f${groupKey}`;
}

/**
 * The alert lifecycle. A condition fires an alert, repeats update it (one open alert per fingerprint),
 * and a clear resolves it. New, escalated and resolved alerts go to the channels unless a silence
 * matches. State lives in the MetaStore; every change goes through one queue, so reports from rules
 * and from other subsystems (through `AlertSink`) never race each other.
 */
export class AlertService implements AlertSink {
  private chain: Promise<unknown> = Promise.resolve();
  private silences: SilenceRow[] = [];

  constructor(
    private readonly deps: {
      store: AlertStore;
      dispatcher: Dispatcher;
      metrics: AlertMetrics;
      log: Logger;
      /** Channels a rule's alerts go to (undefined: every channel). */
      channelsOf: (ruleId: string | null) => readonly string[] | undefined;
      now: () => number;
    },
  ) {}

  async load(): Promise<void> {
    this.silences = await this.deps.store.listSilences();
  }

  // AlertSink: fire-and-forget for detectors that must not wait on storage or channels.

  raise(e: AlertEvent): void {
    void this.fire({
      ruleId: null,
      source: e.source,
      kind: e.kind,
      groupKey: '',
      severity: e.severity,
      description: e.description,
      labels: { ...e.labels },
      value: null,
      at: e.at,
    }).catch((err: unknown) => this.deps.log.error({ err, source: e.source }, 'raising an alert failed'));
  }

  resolve(source: string, kind: string, at: number): void {
    void this.clear(fingerprintOf(source, kind, ''), at).catch((err: unknown) =>
      this.deps.log.error({ err, source }, 'resolving an alert failed'),
    );
  }

  /** Opens an alert, or updates the open one with the same fingerprint. */
  fire(input: FireInput): Promise<AlertRow> {
    return this.serial(async () => {
      const { store, metrics } = this.deps;
      const fingerprint = fingerprintOf(input.source, input.kind, input.groupKey);
      const open = await store.firingAlert(fingerprint);
      if (open) {
        const escalated = RANK[input.severity] > RANK[open.severity];
        const row: AlertRow = {
          ...open,
          severity: input.severity,
          description: input.description,
          labels: input.labels,
          value: input.value,
          updatedAt: input.at,
          occurrences: open.occurrences + 1,
        };
        await store.putAlert(row);
        if (escalated) this.notify(row);
        return row;
      }
      const row: AlertRow = {
        id: newId('al'),
        fingerprint,
        ruleId: input.ruleId,
        source: input.source,
        kind: input.kind,
        groupKey: input.groupKey,
        state: 'firing',
        severity: input.severity,
        description: input.description,
        labels: input.labels,
        value: input.value,
        startedAt: input.at,
        updatedAt: input.at,
        resolvedAt: null,
        ackedAt: null,
        ackedBy: null,
        occurrences: 1,
      };
      await store.putAlert(row);
      metrics.fired.inc({ severity: row.severity });
      this.deps.log.info({ alert: row.id, fingerprint, severity: row.severity }, row.description);
      this.notify(row);
      return row;
    });
  }

  /** Resolves the open alert with this fingerprint, if any. */
  clear(fingerprint: string, at: number): Promise<AlertRow | undefined> {
    return this.serial(async () => {
      const open = await this.deps.store.firingAlert(fingerprint);
      if (!open) return undefined;
      const row: AlertRow = { ...open, state: 'resolved', resolvedAt: at, updatedAt: at };
      await this.deps.store.putAlert(row);
      this.deps.metrics.resolved.inc({ severity: row.severity });
      this.notify(row);
      return row;
    });
  }

  /** Firing alerts of a rule, by group key (the evaluator resolves groups that went quiet). */
  async firingOf(ruleId: string): Promise<AlertRow[]> {
    return this.deps.store.listAlerts({ state: 'firing', ruleId, limit: 100_000 });
  }

  ack(id: string, by: string | null): Promise<AlertRow> {
    return this.serial(async () => {
      const a = await this.get(id);
      if (a.ackedAt !== null) return a;
      const row: AlertRow = { ...a, ackedAt: this.deps.now(), ackedBy: by };
      await this.deps.store.putAlert(row);
      return row;
    });
  }

  async get(id: string): Promise<AlertRow> {
    const a = await this.deps.store.getAlert(id);
    if (!a) throw new SluiceError('alert_not_found', `Unknown alert '${id}'`);
    return a;
  }

  list(filter: AlertFilter): Promise<AlertRow[]> {
    return this.deps.store.listAlerts(filter);
  }

  isSilenced(a: AlertRow, at = this.deps.now()): boolean {
    return this.silences.some((s) => silenceMatches(s, a, at));
  }

  listSilences(): SilenceRow[] {
    return [...this.silences];
  }

  async addSilence(row: SilenceRow): Promise<void> {
    await this.deps.store.putSilence(row);
    this.silences = await this.deps.store.listSilences();
  }

  async deleteSilence(id: string): Promise<void> {
    if (!(await this.deps.store.deleteSilence(id)))
      throw new SluiceError('silence_not_found', `Unknown silence '${id}'`);
    this.silences = await this.deps.store.listSilences();
  }

  /** Waits for queued changes and the notifications they started. */
  async idle(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.deps.dispatcher.idle();
  }

  private notify(row: AlertRow): void {
    if (this.isSilenced(row)) return;
    const channels = this.deps.dispatcher.route(row.severity, this.deps.channelsOf(row.ruleId));
    if (channels.length > 0) void this.deps.dispatcher.deliver(alertNotification(row), channels);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

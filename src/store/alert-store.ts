import type { AlertSeverity } from '../alerts/alert-sink.js';

/**
 * The alerting part of the MetaStore: rules and channels created through the API, alerts with their
 * lifecycle, silences, per-rule evaluation state (pending conditions, learnt baselines) and channel
 * delivery status. Everything here survives a restart.
 */
export type AlertState = 'firing' | 'resolved';

export interface AlertRow {
  id: string;
  /** Dedup identity: one firing alert per fingerprint (rule or source, kind, group). */
  fingerprint: string;
  ruleId: string | null;
  source: string;
  kind: string;
  /** The group the alert is about, e.g. `device_id=dev-7`; empty for a whole rule. */
  groupKey: string;
  state: AlertState;
  severity: AlertSeverity;
  description: string;
  labels: Record<string, string>;
  /** The observed value that made it fire (or its latest repeat), when there is one. */
  value: number | null;
  startedAt: number;
  /** Last time the condition was reported (repeats update it). */
  updatedAt: number;
  resolvedAt: number | null;
  ackedAt: number | null;
  ackedBy: string | null;
  /** How many times the condition was reported while this alert was open. */
  occurrences: number;
}

export interface AlertFilter {
  state?: AlertState;
  severity?: AlertSeverity;
  ruleId?: string;
  limit: number;
}

/** A rule or channel definition as stored: its validated spec as JSON. */
export interface StoredDefinition {
  id: string;
  spec: unknown;
  createdAt: number;
}

export interface ChannelStatus {
  channel: string;
  sent: number;
  failed: number;
  lastOkAt: number | null;
  lastErrorAt: number | null;
  lastError: string | null;
}

export interface SilenceRow {
  id: string;
  matchers: Record<string, string>;
  startsAt: number;
  endsAt: number;
  comment: string;
  createdBy: string | null;
  createdAt: number;
}

export interface AlertStore {
  putAlert(row: AlertRow): Promise<void>;
  getAlert(id: string): Promise<AlertRow | undefined>;
  /** The firing alert with this fingerprint, if any. */
  firingAlert(fingerprint: string): Promise<AlertRow | undefined>;
  /** Newest first. */
  listAlerts(filter: AlertFilter): Promise<AlertRow[]>;

  putRule(def: StoredDefinition): Promise<void>;
  listRules(): Promise<StoredDefinition[]>;
  deleteRule(id: string): Promise<boolean>;
  putChannel(def: StoredDefinition): Promise<void>;
  listChannels(): Promise<StoredDefinition[]>;
  deleteChannel(id: string): Promise<boolean>;

  recordDelivery(channel: string, ok: boolean, error: string | null, at: number): Promise<void>;
  channelStatuses(): Promise<ChannelStatus[]>;

  putSilence(row: SilenceRow): Promise<void>;
  listSilences(): Promise<SilenceRow[]>;
  deleteSilence(id: string): Promise<boolean>;

  /** Evaluation state of a rule per group, as JSON-able values. */
  putRuleState(ruleId: string, groupKey: string, state: unknown): Promise<void>;
  ruleStates(ruleId: string): Promise<Map<string, unknown>>;
  deleteRuleStates(ruleId: string): Promise<void>;
}

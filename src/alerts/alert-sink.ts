/**
 * Where subsystems report conditions that should become alerts without knowing about rules, channels or
 * storage: connector stoppages today, other detectors later. The alert service implements it: it keeps
 * one open alert per (source, kind), dedups repeats, notifies channels, and resolves on `resolve`.
 */

export type AlertSeverity = 'info' | 'warning' | 'critical';

export interface AlertEvent {
  /** What the alert is about, e.g. `connector:telematics-feed`. */
  source: string;
  /** Stable class of the condition, e.g. `credentials`, `provider_error`, `pipeline_error`, `no_data`. */
  kind: string;
  severity: AlertSeverity;
  /** One human sentence: what happened and the likely cause. */
  description: string;
  /** When the condition was detected (ms since the epoch). */
  at: number;
  labels?: Record<string, string>;
}

export interface AlertSink {
  raise(event: AlertEvent): void;
  /** Ends the open alert of this source and kind, if any. */
  resolve(source: string, kind: string, at: number): void;
}

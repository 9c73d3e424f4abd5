import type { AlertRow, SilenceRow } from '../store/alert-store.js';
import type { Notification } from './notifiers/notifier.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The labels silences match on: the alert's own labels plus its identity. */
export function matchLabels(a: AlertRow): Record<string, string> {
  return {
    ...a.labels,
    rule: a.ruleId ?? '',
    source: a.source,
    kind: a.kind,
    severity: a.severity,
    group: a.groupKey,
  };
}

export function silenceMatches(s: SilenceRow, a: AlertRow, at: number): boolean {
  if (at < s.startsAt || at >= s.endsAt) return false;
  const labels = matchLabels(a);
  return Object.entries(s.matchers).every(([k, v]) => labels[k] === v);
}

/** An alert as the API shows it. */
export function alertView(a: AlertRow, silenced: boolean) {
  return {
    id: a.id,
    rule: a.ruleId,
    source: a.source,
    kind: a.kind,
    group: a.groupKey,
    state: a.state,
    severity: a.severity,
    description: a.description,
    labels: a.labels,
    value: a.value,
    started_at: iso(a.startedAt),
    updated_at: iso(a.updatedAt),
    resolved_at: iso(a.resolvedAt),
    acked_at: iso(a.ackedAt),
    acked_by: a.ackedBy,
    occurrences: a.occurrences,
    silenced,
  };
}
export type AlertView = ReturnType<typeof alertView>;

export function silenceView(s: SilenceRow, now: number) {
  return {
    id: s.id,
    matchers: s.matchers,
    starts_at: new Date(s.startsAt).toISOString(),
    ends_at: new Date(s.endsAt).toISOString(),
    comment: s.comment,
    created_by: s.createdBy,
    created_at: new Date(s.createdAt).toISOString(),
    active: now >= s.startsAt && now < s.endsAt,
  };
}

/** The notification for an alert that fired, escalated or resolved. */
export function alertNotification(a: AlertRow): Notification {
  const state = a.state;
  const mark = state === 'resolved' ? 'RESOLVED' : a.severity.toUpperCase();
  const subject = a.ruleId ? `rule ${a.ruleId}` : a.source;
  const fields = [
    { title: 'severity', value: a.severity },
    { title: 'state', value: state },
    { title: 'since', value: new Date(a.startedAt).toISOString() },
    ...(a.groupKey ? [{ title: 'group', value: a.groupKey }] : []),
    ...(a.value !== null ? [{ title: 'value', value: String(Number(a.value.toPrecision(6))) }] : []),
    ...(a.resolvedAt !== null ? [{ title: 'resolved', value: new Date(a.resolvedAt).toISOString() }] : []),
    { title: 'alert', value: a.id },
  ];
  return {
    kind: 'alert',
    title: `[${mark}] ${subject}${a.groupKey ? ` (${a.groupKey})` : ''}: ${a.description}`.slice(0, 300),
    text: a.description,
    severity: a.severity,
    state,
    fields,
    data: alertView(a, false),
  };
}

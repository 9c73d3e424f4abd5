import type { AlertSeverity } from '../../alerts/alert-sink.js';
import type {
  AlertFilter,
  AlertRow,
  AlertState,
  AlertStore,
  ChannelStatus,
  SilenceRow,
  StoredDefinition,
} from '../alert-store.js';
import { guarded } from './sqlite-errors.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-schema.js';

interface AlertRecord {
  id: string;
  fingerprint: string;
  rule_id: string | null;
  source: string;
  kind: string;
  group_key: string;
  state: AlertState;
  severity: AlertSeverity;
  description: string;
  labels: string;
  value: number | null;
  started_at: number;
  updated_at: number;
  resolved_at: number | null;
  acked_at: number | null;
  acked_by: string | null;
  occurrences: number;
}

const ALERT_COLUMNS = `id, fingerprint, rule_id, source, kind, group_key, state, severity, description,
  labels, value, started_at, updated_at, resolved_at, acked_at, acked_by, occurrences`;

function toAlert(r: AlertRecord): AlertRow {
  return {
    id: r.id,
    fingerprint: r.fingerprint,
    ruleId: r.rule_id,
    source: r.source,
    kind: r.kind,
    groupKey: r.group_key,
    state: r.state,
    severity: r.severity,
    description: r.description,
    labels: JSON.parse(r.labels) as Record<string, string>,
    value: r.value,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
    resolvedAt: r.resolved_at,
    ackedAt: r.acked_at,
    ackedBy: r.acked_by,
    occurrences: r.occurrences,
  };
}

function prepare(db: SqliteDatabase) {
  const defs = (table: string) => ({
    put: db.prepare(
      `INSERT INTO ${table} (id, spec, created_at) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET spec = excluded.spec`,
    ),
    list: db.prepare(`SELECT id, spec, created_at FROM ${table} ORDER BY id`),
    del: db.prepare(`DELETE FROM ${table} WHERE id = ?`),
  });
  return {
    putAlert: db.prepare(
      `INSERT INTO alerts (${ALERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET state = excluded.state, severity = excluded.severity,
         description = excluded.description, labels = excluded.labels, value = excluded.value,
         updated_at = excluded.updated_at, resolved_at = excluded.resolved_at,
         acked_at = excluded.acked_at, acked_by = excluded.acked_by, occurrences = excluded.occurrences`,
    ),
    getAlert: db.prepare(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE id = ?`),
    firing: db.prepare(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE fingerprint = ? AND state = 'firing'`),
    rules: defs('alert_rules'),
    channels: defs('alert_channels'),
    delivered: db.prepare(
      `INSERT INTO channel_status (channel, sent, failed, last_ok_at, last_error_at, last_error)
       VALUES (@channel, @ok, 1 - @ok, CASE WHEN @ok = 1 THEN @at END, CASE WHEN @ok = 0 THEN @at END, @error)
       ON CONFLICT (channel) DO UPDATE SET
         sent = sent + @ok, failed = failed + 1 - @ok,
         last_ok_at = CASE WHEN @ok = 1 THEN @at ELSE last_ok_at END,
         last_error_at = CASE WHEN @ok = 0 THEN @at ELSE last_error_at END,
         last_error = CASE WHEN @ok = 0 THEN @error ELSE last_error END`,
    ),
    statuses: db.prepare(
      `SELECT channel, sent, failed, last_ok_at, last_error_at, last_error FROM channel_status ORDER BY channel`,
    ),
    putSilence: db.prepare(
      `INSERT OR REPLACE INTO silences (id, matchers, starts_at, ends_at, comment, created_by, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    listSilences: db.prepare(
      `SELECT id, matchers, starts_at, ends_at, comment, created_by, created_at FROM silences ORDER BY starts_at, id`,
    ),
    deleteSilence: db.prepare(`DELETE FROM silences WHERE id = ?`),
    putState: db.prepare(
      `INSERT INTO alert_rule_state (rule_id, group_key, state) VALUES (?, ?, ?)
       ON CONFLICT (rule_id, group_key) DO UPDATE SET state = excluded.state`,
    ),
    states: db.prepare(`SELECT group_key, state FROM alert_rule_state WHERE rule_id = ?`),
    deleteStates: db.prepare(`DELETE FROM alert_rule_state WHERE rule_id = ?`),
  };
}
type Statements = ReturnType<typeof prepare>;

function listDefs(stmt: SqliteStatement): StoredDefinition[] {
  return (stmt.all() as { id: string; spec: string; created_at: number }[]).map((r) => ({
    id: r.id,
    spec: JSON.parse(r.spec) as unknown,
    createdAt: r.created_at,
  }));
}

/** AlertStore on the MetaStore's SQLite database; statements are prepared once per open database. */
export class SqliteAlerts implements AlertStore {
  private cache: { db: SqliteDatabase; s: Statements } | undefined;

  constructor(private readonly db: () => SqliteDatabase) {}

  async putAlert(a: AlertRow): Promise<void> {
    this.run((s) =>
      s.putAlert.run(
        a.id,
        a.fingerprint,
        a.ruleId,
        a.source,
        a.kind,
        a.groupKey,
        a.state,
        a.severity,
        a.description,
        JSON.stringify(a.labels),
        a.value,
        a.startedAt,
        a.updatedAt,
        a.resolvedAt,
        a.ackedAt,
        a.ackedBy,
        a.occurrences,
      ),
    );
  }

  async getAlert(id: string): Promise<AlertRow | undefined> {
    const r = this.run((s) => s.getAlert.get(id)) as AlertRecord | undefined;
    return r && toAlert(r);
  }

  async firingAlert(fingerprint: string): Promise<AlertRow | undefined> {
    const r = this.run((s) => s.firing.get(fingerprint)) as AlertRecord | undefined;
    return r && toAlert(r);
  }

  async listAlerts(f: AlertFilter): Promise<AlertRow[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (f.state) {
      where.push('state = ?');
      params.push(f.state);
    }
    if (f.severity) {
      where.push('severity = ?');
      params.push(f.severity);
    }
    if (f.ruleId) {
      where.push('rule_id = ?');
      params.push(f.ruleId);
    }
    params.push(f.limit);
    const sql = `SELECT ${ALERT_COLUMNS} FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY seq DESC LIMIT ?`;
    return (
      guarded(() =>
        this.db()
          .prepare(sql)
          .all(...params),
      ) as AlertRecord[]
    ).map(toAlert);
  }

  async putRule(def: StoredDefinition): Promise<void> {
    this.run((s) => s.rules.put.run(def.id, JSON.stringify(def.spec), def.createdAt));
  }

  async listRules(): Promise<StoredDefinition[]> {
    return this.run((s) => listDefs(s.rules.list));
  }

  async deleteRule(id: string): Promise<boolean> {
    return this.run((s) => s.rules.del.run(id).changes > 0);
  }

  async putChannel(def: StoredDefinition): Promise<void> {
    this.run((s) => s.channels.put.run(def.id, JSON.stringify(def.spec), def.createdAt));
  }

  async listChannels(): Promise<StoredDefinition[]> {
    return this.run((s) => listDefs(s.channels.list));
  }

  async deleteChannel(id: string): Promise<boolean> {
    return this.run((s) => s.channels.del.run(id).changes > 0);
  }

  async recordDelivery(channel: string, ok: boolean, error: string | null, at: number): Promise<void> {
    this.run((s) => s.delivered.run({ channel, ok: ok ? 1 : 0, error, at }));
  }

  async channelStatuses(): Promise<ChannelStatus[]> {
    const rows = this.run((s) => s.statuses.all()) as {
      channel: string;
      sent: number;
      failed: number;
      last_ok_at: number | null;
      last_error_at: number | null;
      last_error: string | null;
    }[];
    return rows.map((r) => ({
      channel: r.channel,
      sent: r.sent,
      failed: r.failed,
      lastOkAt: r.last_ok_at,
      lastErrorAt: r.last_error_at,
      lastError: r.last_error,
    }));
  }

  async putSilence(r: SilenceRow): Promise<void> {
    this.run((s) =>
      s.putSilence.run(
        r.id,
        JSON.stringify(r.matchers),
        r.startsAt,
        r.endsAt,
        r.comment,
        r.createdBy,
        r.createdAt,
      ),
    );
  }

  async listSilences(): Promise<SilenceRow[]> {
    const rows = this.run((s) => s.listSilences.all()) as {
      id: string;
      matchers: string;
      starts_at: number;
      ends_at: number;
      comment: string;
      created_by: string | null;
      created_at: number;
    }[];
    return rows.map((r) => ({
      id: r.id,
      matchers: JSON.parse(r.matchers) as Record<string, string>,
      startsAt: r.starts_at,
      endsAt: r.ends_at,
      comment: r.comment,
      createdBy: r.created_by,
      createdAt: r.created_at,
    }));
  }

  async deleteSilence(id: string): Promise<boolean> {
    return this.run((s) => s.deleteSilence.run(id).changes > 0);
  }

  async putRuleState(ruleId: string, groupKey: string, state: unknown): Promise<void> {
    this.run((s) => s.putState.run(ruleId, groupKey, JSON.stringify(state)));
  }

  async ruleStates(ruleId: string): Promise<Map<string, unknown>> {
    const rows = this.run((s) => s.states.all(ruleId)) as { group_key: string; state: string }[];
    return new Map(rows.map((r) => [r.group_key, JSON.parse(r.state) as unknown]));
  }

  async deleteRuleStates(ruleId: string): Promise<void> {
    this.run((s) => s.deleteStates.run(ruleId));
  }

  private run<T>(fn: (s: Statements) => T): T {
    return guarded(() => {
      const db = this.db();
      if (this.cache?.db !== db) this.cache = { db, s: prepare(db) };
      return fn(this.cache.s);
    });
  }
}

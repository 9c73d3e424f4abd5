import type { ConnectorRow, NewConnectorRow } from '../meta-store.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-schema.js';

interface Stored {
  id: string;
  origin: ConnectorRow['origin'];
  config: string;
  credentials: string | null;
  paused: number;
  state: string | null;
  health: string | null;
  created_at: number;
  updated_at: number;
}

const COLUMNS = 'id, origin, config, credentials, paused, state, health, created_at, updated_at';

function toRow(r: Stored): ConnectorRow {
  return {
    id: r.id,
    origin: r.origin,
    config: JSON.parse(r.config) as unknown,
    sealedCredentials: r.credentials,
    paused: r.paused === 1,
    state: r.state === null ? null : (JSON.parse(r.state) as unknown),
    health: r.health === null ? null : (JSON.parse(r.health) as unknown),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Connector rows: config and sealed credentials, the pause flag, cursor state and health. */
export class SqliteConnectors {
  private readonly upsert: SqliteStatement;
  private readonly byId: SqliteStatement;
  private readonly all: SqliteStatement;
  private readonly saveState: SqliteStatement;
  private readonly setPaused: SqliteStatement;
  private readonly setCredentials: SqliteStatement;
  private readonly remove: SqliteStatement;

  constructor(db: SqliteDatabase) {
    // A re-put (config file read again at start) keeps the durable state, health and pause flag.
    this.upsert = db.prepare(
      `INSERT INTO connectors (id, origin, config, credentials, paused, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET origin = excluded.origin, config = excluded.config,
         credentials = COALESCE(excluded.credentials, connectors.credentials), updated_at = excluded.updated_at`,
    );
    this.byId = db.prepare(`SELECT ${COLUMNS} FROM connectors WHERE id = ?`);
    this.all = db.prepare(`SELECT ${COLUMNS} FROM connectors ORDER BY id`);
    this.saveState = db.prepare(`UPDATE connectors SET state = ?, health = ?, updated_at = ? WHERE id = ?`);
    this.setPaused = db.prepare(`UPDATE connectors SET paused = ?, updated_at = ? WHERE id = ?`);
    this.setCredentials = db.prepare(`UPDATE connectors SET credentials = ?, updated_at = ? WHERE id = ?`);
    this.remove = db.prepare(`DELETE FROM connectors WHERE id = ?`);
  }

  put(row: NewConnectorRow, now: number): void {
    this.upsert.run(
      row.id,
      row.origin,
      JSON.stringify(row.config),
      row.sealedCredentials,
      row.paused ? 1 : 0,
      now,
      now,
    );
  }

  get(id: string): ConnectorRow | undefined {
    const r = this.byId.get(id) as Stored | undefined;
    return r && toRow(r);
  }

  list(): ConnectorRow[] {
    return (this.all.all() as Stored[]).map(toRow);
  }

  save(id: string, state: unknown, health: unknown, now: number): void {
    this.saveState.run(JSON.stringify(state), JSON.stringify(health), now, id);
  }

  pause(id: string, paused: boolean, now: number): boolean {
    return this.setPaused.run(paused ? 1 : 0, now, id).changes > 0;
  }

  credentials(id: string, sealed: string | null, now: number): boolean {
    return this.setCredentials.run(sealed, now, id).changes > 0;
  }

  delete(id: string): boolean {
    return this.remove.run(id).changes > 0;
  }
}

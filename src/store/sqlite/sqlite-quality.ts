import type {
  QualityBucket,
  QualityDelta,
  QualityExample,
  QualityFilter,
  QualityGroup,
  QualityReason,
  QualityStore,
} from '../quality-store.js';
import { guarded } from './sqlite-errors.js';
import type { SqliteDatabase } from './sqlite-schema.js';

/** Example lines kept per (dataset, client, minute, reason). */
const EXAMPLES_PER_BUCKET = 3;
/** Example lines returned per reason. */
const EXAMPLES_PER_REASON = 5;

function prepare(db: SqliteDatabase) {
  return {
    addCounts: db.prepare(
      `INSERT INTO quality_counts (dataset, client, bucket_ms, total, valid, invalid, duplicate)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (dataset, client, bucket_ms) DO UPDATE SET total = total + excluded.total,
         valid = valid + excluded.valid, invalid = invalid + excluded.invalid,
         duplicate = duplicate + excluded.duplicate`,
    ),
    reasonRow: db.prepare(
      `SELECT n, examples FROM quality_reasons WHERE dataset = ? AND client = ? AND bucket_ms = ? AND reason = ?`,
    ),
    putReason: db.prepare(
      `INSERT OR REPLACE INTO quality_reasons (dataset, client, bucket_ms, reason, n, examples)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
  };
}
type Statements = ReturnType<typeof prepare>;

/** Optional dataset / client equality plus the time range, as SQL and parameters. */
function whereOf(f: QualityFilter): { sql: string; params: (string | number)[] } {
  const parts = ['bucket_ms >= ?', 'bucket_ms < ?'];
  const params: (string | number)[] = [f.fromMs, f.toMs];
  if (f.dataset !== undefined) {
    parts.push('dataset = ?');
    params.push(f.dataset);
  }
  if (f.client !== undefined) {
    parts.push('client = ?');
    params.push(f.client);
  }
  return { sql: parts.join(' AND '), params };
}

/** QualityStore on the MetaStore's SQLite database. */
export class SqliteQuality implements QualityStore {
  private cache: { db: SqliteDatabase; s: Statements; add: (d: readonly QualityDelta[]) => void } | undefined;

  constructor(private readonly db: () => SqliteDatabase) {}

  async addQuality(deltas: readonly QualityDelta[]): Promise<void> {
    guarded(() => this.open().add(deltas));
  }

  async qualityBuckets(f: QualityFilter, stepMs: number): Promise<QualityBucket[]> {
    const w = whereOf(f);
    const step = Math.max(60_000, Math.round(stepMs));
    const sql = `SELECT (bucket_ms / ${step}) * ${step} AS bucketMs, sum(total) AS total, sum(valid) AS valid,
        sum(invalid) AS invalid, sum(duplicate) AS duplicate
      FROM quality_counts WHERE ${w.sql} GROUP BY 1 ORDER BY 1`;
    return guarded(() =>
      this.db()
        .prepare(sql)
        .all(...w.params),
    ) as QualityBucket[];
  }

  async qualityGroups(f: QualityFilter): Promise<QualityGroup[]> {
    const w = whereOf(f);
    const sql = `SELECT dataset, client, sum(total) AS total, sum(valid) AS valid, sum(invalid) AS invalid,
        sum(duplicate) AS duplicate
      FROM quality_counts WHERE ${w.sql} GROUP BY dataset, client ORDER BY dataset, client`;
    return guarded(() =>
      this.db()
        .prepare(sql)
        .all(...w.params),
    ) as QualityGroup[];
  }

  async qualityReasons(f: QualityFilter, limit: number): Promise<QualityReason[]> {
    const w = whereOf(f);
    return guarded(() => {
      const db = this.db();
      const top = db
        .prepare(
          `SELECT reason, sum(n) AS n FROM quality_reasons WHERE ${w.sql}
           GROUP BY reason ORDER BY n DESC, reason LIMIT ?`,
        )
        .all(...w.params, limit) as { reason: string; n: number }[];
      const recent = db.prepare(
        `SELECT dataset, client, bucket_ms, examples FROM quality_reasons WHERE ${w.sql} AND reason = ?
         ORDER BY bucket_ms DESC LIMIT ${EXAMPLES_PER_REASON}`,
      );
      return top.map(({ reason, n }) => {
        const examples: QualityReason['examples'] = [];
        const rows = recent.all(...w.params, reason) as {
          dataset: string;
          client: string;
          bucket_ms: number;
          examples: string;
        }[];
        for (const r of rows)
          for (const e of JSON.parse(r.examples) as QualityExample[])
            if (examples.length < EXAMPLES_PER_REASON)
              examples.push({ ...e, dataset: r.dataset, client: r.client, bucketMs: r.bucket_ms });
        return { reason, n, examples };
      });
    });
  }

  private open() {
    const db = this.db();
    if (this.cache?.db !== db) {
      const s = prepare(db);
      const add = db.transaction((deltas: readonly QualityDelta[]) => {
        for (const d of deltas) {
          s.addCounts.run(d.dataset, d.client, d.bucketMs, d.total, d.valid, d.invalid, d.duplicate);
          for (const [reason, r] of d.reasons) {
            const prev = s.reasonRow.get(d.dataset, d.client, d.bucketMs, reason) as
              { n: number; examples: string } | undefined;
            const examples = prev ? (JSON.parse(prev.examples) as QualityExample[]) : [];
            for (const e of r.examples) if (examples.length < EXAMPLES_PER_BUCKET) examples.push(e);
            s.putReason.run(
              d.dataset,
              d.client,
              d.bucketMs,
              reason,
              (prev?.n ?? 0) + r.n,
              JSON.stringify(examples),
            );
          }
        }
      });
      this.cache = { db, s, add };
    }
    return this.cache;
  }
}

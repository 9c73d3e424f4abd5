import type { BatchOutcome, ColumnarBatch } from '../../core/batch.js';
import { SluiceError } from '../../core/errors.js';
import type { KeyedApplyOutcome } from '../meta-store.js';
import { KEY_SEPARATOR, columnList, shapeOfTable, type RecordShape } from './record-columns.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-schema.js';

/**
 * Inserts go through a multi-row statement: binding and stepping one statement per 64 rows costs
 * about half as much as one per row (measured on 8192-row batches).
 */
const ROWS_PER_INSERT = 64;
const MAX_BOUND_PARAMS = 30_000;

export type KeyedApplyResult = KeyedApplyOutcome;

/**
 * Writes batches into one version database (on the version-build thread). Each batch commits in one
 * transaction together with its id and counts in `applied_batches`, so a batch delivered again, after
 * a crash or a retry, changes nothing and answers the counts recorded the first time.
 */
export class VersionWriter {
  private readonly shape: RecordShape;
  /** Bound parameters per row. */
  private readonly width: number;
  private readonly rowsPerStatement: number;
  private readonly many: SqliteStatement;
  private readonly one: SqliteStatement;
  private readonly selectApplied: SqliteStatement;
  private readonly lineOf: SqliteStatement;
  private readonly insertApplied: SqliteStatement;
  private readonly applyTx: (batch: ColumnarBatch) => KeyedApplyResult;

  constructor(private readonly db: SqliteDatabase) {
    const shape = shapeOfTable(db, 'records');
    if (shape === undefined)
      throw new SluiceError('internal', 'version storage has no records table (never begun)');
    this.shape = shape;
    const cols = columnList(shape);
    this.width = cols.split(', ').length;
    const tuple = `(${new Array<string>(this.width).fill('?').join(', ')})`;
    this.rowsPerStatement = Math.max(1, Math.min(ROWS_PER_INSERT, Math.floor(MAX_BOUND_PARAMS / this.width)));
    // OR IGNORE: the first row with a key wins, also between rows of one multi-row statement;
    // `changes` counts the rows actually inserted, the rest are duplicates.
    const sql = (rows: number): string =>
      `INSERT OR IGNORE INTO records (${cols}) VALUES ${new Array<string>(rows).fill(tuple).join(', ')}`;
    this.many = db.prepare(sql(this.rowsPerStatement));
    this.one = db.prepare(sql(1));
    this.selectApplied = db.prepare(
      `SELECT batch_id AS batchId, total, valid, invalid, duplicate FROM applied_batches WHERE batch_id = ?`,
    );
    this.lineOf = db.prepare(`SELECT line FROM records WHERE k = ?`).pluck();
    this.insertApplied = db.prepare(
      `INSERT INTO applied_batches (batch_id, upload_id, seq, total, valid, invalid, duplicate)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const tx = db.transaction((batch: ColumnarBatch): KeyedApplyResult => {
      const recorded = this.selectApplied.get(batch.id) as BatchOutcome | undefined;
      if (recorded !== undefined) return { applied: false, outcome: { ...recorded } };
      const { inserted, keep } = this.insertRows(batch);
      const outcome: BatchOutcome = {
        batchId: batch.id,
        total: batch.totalRows,
        valid: inserted,
        invalid: batch.rejects.length,
        duplicate: batch.length - inserted,
      };
      this.insertApplied.run(
        batch.id,
        batch.source,
        batch.seq,
        outcome.total,
        outcome.valid,
        outcome.invalid,
        outcome.duplicate,
      );
      return keep === undefined ? { applied: true, outcome } : { applied: true, outcome, keep };
    });
    this.applyTx = (batch) => tx.immediate(batch);
  }

  apply(batch: ColumnarBatch): KeyedApplyResult {
    // A replay is answered by a plain read, outside a write transaction: the batch may be replayed
    // into a version already published (a crash after the swap, before the log's acknowledgement),
    // whose reader holds a shared lock for good, and committing even an empty write transaction in
    // rollback-journal mode needs that lock released (SQLITE_BUSY).
    const recorded = this.selectApplied.get(batch.id) as BatchOutcome | undefined;
    if (recorded !== undefined) return { applied: false, outcome: { ...recorded } };
    return this.applyTx(batch);
  }

  close(): void {
    this.db.close();
  }

  /**
   * Inserts the rows and tells which were stored. A multi-row statement reports only how many rows
   * it stored; when that is fewer than it had, each of its rows is looked up, and a row was stored
   * exactly when the stored record carries its line (lines are unique within an upload). Batches
   * without duplicates pay nothing for the mask.
   */
  private insertRows(batch: ColumnarBatch): { inserted: number; keep: Uint8Array | undefined } {
    const { shape, width, rowsPerStatement, many, one } = this;
    if (
      batch.fields.length !== shape.fields ||
      batch.payloads.length !== shape.payloads ||
      batch.attributes.length !== shape.attributes
    ) {
      throw new SluiceError('internal', `batch ${batch.id} does not match the columns of its version`);
    }
    const keyColumns = batch.keys;
    const lines = batch.lines;
    const params: (string | number | null)[] = new Array(width * rowsPerStatement);
    const single: (string | number | null)[] = new Array(width);
    const full = batch.length - (batch.length % rowsPerStatement);
    let keep: Uint8Array | undefined;
    let inserted = 0;
    let p = 0;
    for (let row = 0; row < batch.length; row++) {
      // Rows past the last full statement go one by one into `single`.
      const target = row < full ? params : single;
      if (row >= full) p = 0;
      if (keyColumns.length === 1) {
        target[p++] = keyColumns[0][row];
      } else {
        let key = keyColumns[0][row];
        for (let k = 1; k < keyColumns.length; k++) key += KEY_SEPARATOR + keyColumns[k][row];
        target[p++] = key;
      }
      const t = batch.timeUs === null ? NaN : batch.timeUs[row];
      target[p++] = Number.isNaN(t) ? null : t;
      target[p++] = batch.timeText === null ? null : batch.timeText[row];
      for (const column of batch.fields) {
        const v = column[row];
        target[p++] = Number.isNaN(v) ? null : v;
      }
      for (const column of batch.payloads) target[p++] = column[row];
      for (const column of batch.attributes) target[p++] = column[row];
      target[p++] = lines[row];
      // Spread, not an array argument: better-sqlite3 binds spread arguments measurably faster.
      if (target === single) {
        const stored = one.run(...single).changes;
        inserted += stored;
        if (stored === 0) (keep ??= new Uint8Array(batch.length).fill(1))[row] = 0;
      } else if (p === params.length) {
        const stored = many.run(...params).changes;
        inserted += stored;
        p = 0;
        if (stored < rowsPerStatement) {
          keep ??= new Uint8Array(batch.length).fill(1);
          const first = row + 1 - rowsPerStatement;
          for (let j = 0; j < rowsPerStatement; j++)
            if (this.lineOf.get(params[j * width]) !== lines[first + j]) keep[first + j] = 0;
        }
      }
    }
    return { inserted, keep };
  }
}

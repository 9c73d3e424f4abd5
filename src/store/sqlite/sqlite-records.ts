import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { ColumnarBatch } from '../../core/batch.js';
import type { DatasetLayout } from '../../core/dataset.js';
import { SluiceError } from '../../core/errors.js';
import type { KeyedRecord } from '../meta-store.js';
import {
  KEY_SEPARATOR,
  assertDatasetName,
  columnList,
  joinKey,
  shapeOfLayout,
  shapeOfTable,
  toRecord,
  type RawRow,
  type RecordShape,
} from './record-columns.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-schema.js';
import type { VersionBuildClient } from './version-build-client.js';
import { listVersionFiles, openVersionReader, versionFile } from './version-files.js';
import type { KeyedApplyResult } from './version-writer.js';

type Statement = SqliteStatement;

const SCAN_CHUNK = 10_000;

/** A read-only connection to one version's file, with its prepared point lookup. */
interface Reader {
  readonly version: number;
  readonly db: SqliteDatabase;
  readonly shape: RecordShape;
  readonly byKey: Statement;
}

function openReader(file: string, version: number, sealed: boolean): Reader {
  const db = openVersionReader(file, { sealed });
  try {
    const shape = shapeOfTable(db, 'records');
    if (shape === undefined) throw new SluiceError('internal', `version ${version} has no records table`);
    const byKey = db.prepare(`SELECT ${columnList(shape)} FROM records WHERE k = ?`).raw(true);
    return { version, db, shape, byKey };
  } catch (e) {
    db.close();
    throw e;
  }
}

/**
 * Replace-mode records. Each version is its own SQLite file (version-files.ts), written on the
 * version-build thread and read here, on the main thread, through one read-only connection per
 * published version. meta.sqlite keeps only the pointer to each dataset's current version
 * (`dataset_versions`) and the version counters.
 *
 * The current version of each dataset is cached in memory with its connection and prepared lookup, so
 * `get` is one statement step. This assumes one process owns the data dir, as in embedded mode.
 */
export class SqliteRecords {
  /** dataset -> reader of its current version, or null when none is published. */
  private readonly current = new Map<string, Reader | null>();
  private readonly selectCurrent: Statement;
  private readonly upsertCurrent: Statement;
  private readonly deleteCurrent: Statement;
  private readonly selectCounter: Statement;
  private readonly upsertCounter: Statement;
  private readonly movePointer: (dataset: string, version: number) => number | null;
  readonly next: (dataset: string) => number;

  constructor(
    db: SqliteDatabase,
    private readonly recordsDir: string,
    private readonly builder: VersionBuildClient,
  ) {
    this.selectCurrent = db.prepare(`SELECT current FROM dataset_versions WHERE dataset = ?`).pluck();
    this.upsertCurrent = db.prepare(
      `INSERT INTO dataset_versions (dataset, current) VALUES (?, ?)
       ON CONFLICT (dataset) DO UPDATE SET current = excluded.current`,
    );
    this.deleteCurrent = db.prepare(`DELETE FROM dataset_versions WHERE dataset = ? AND current = ?`);
    this.selectCounter = db.prepare(`SELECT last FROM version_counters WHERE dataset = ?`).pluck();
    this.upsertCounter = db.prepare(
      `INSERT INTO version_counters (dataset, last) VALUES (?, ?)
       ON CONFLICT (dataset) DO UPDATE SET last = excluded.last`,
    );
    const move = db.transaction((dataset: string, version: number): number | null => {
      const previous = (this.selectCurrent.get(dataset) as number | undefined) ?? null;
      this.upsertCurrent.run(dataset, version);
      return previous;
    });
    this.movePointer = (dataset, version) => move.immediate(dataset, version);

    const next = db.transaction((dataset: string): number => {
      assertDatasetName(dataset);
      const last = (this.selectCounter.get(dataset) as number | undefined) ?? 0;
      const existing = this.list(dataset);
      const published = (this.selectCurrent.get(dataset) as number | undefined) ?? 0;
      // Never hand out a number that already has storage, even if it was created with an explicit number.
      const version = Math.max(last, published, existing.length > 0 ? existing[existing.length - 1] : 0) + 1;
      this.upsertCounter.run(dataset, version);
      return version;
    });
    this.next = (dataset) => next.immediate(dataset);
  }

  async begin(layout: DatasetLayout, version: number): Promise<void> {
    await this.builder.begin(this.fileOf(layout.spec.name, version), shapeOfLayout(layout));
  }

  /** Writes a batch into a version on the build thread; see VersionWriter for exactly-once. */
  async applyBatch(layout: DatasetLayout, version: number, batch: ColumnarBatch): Promise<KeyedApplyResult> {
    if (batch.dataset !== layout.spec.name)
      throw new SluiceError('internal', `batch ${batch.id} is for ${batch.dataset}, not ${layout.spec.name}`);
    return this.builder.apply(this.fileOf(layout.spec.name, version), batch);
  }

  /**
   * Seals the version (its write connection closes), then, in one synchronous step: opens the read
   * connection with its prepared lookup, moves the pointer in meta.sqlite, and swaps the cached reader.
   * Lookups therefore answer from the old version up to this step and from the new one after it. The
   * caller swaps the statistics snapshot right after, before any other task runs.
   */
  async publish(dataset: string, version: number): Promise<number | null> {
    const file = this.fileOf(dataset, version);
    await this.builder.seal(file);
    const old = this.current.get(dataset);
    const reader = old?.version === version ? old : openReader(file, version, true);
    let previous: number | null;
    try {
      previous = this.movePointer(dataset, version);
    } catch (e) {
      if (reader !== old) reader.db.close();
      throw e;
    }
    this.current.set(dataset, reader);
    // Nothing reads the old connection any more: lookups are synchronous and now find the new reader.
    if (old && old !== reader) old.db.close();
    return previous;
  }

  currentVersion(dataset: string): number | null {
    const cached = this.current.get(dataset);
    if (cached !== undefined) return cached?.version ?? null;
    return (this.selectCurrent.get(dataset) as number | undefined) ?? null;
  }

  get(layout: DatasetLayout, keys: readonly string[]): KeyedRecord | undefined {
    const reader = this.currentReader(layout.spec.name);
    if (reader === null) return undefined;
    const row = reader.byKey.get(joinKey(keys)) as RawRow | undefined;
    return row === undefined ? undefined : toRecord(row, reader.shape);
  }

  /**
   * Records of the current version whose columns equal `where` (AND), in key order, at most `limit`.
   * A single key or the first of a composite key uses the primary key (a range for the prefix); other
   * columns are compared row by row, since version tables carry no secondary index.
   */
  find(layout: DatasetLayout, where: Readonly<Record<string, string>>, limit: number): KeyedRecord[] {
    const reader = this.currentReader(layout.spec.name);
    if (reader === null) return [];
    const clauses: string[] = [];
    const params: (string | number)[] = [];
    const later: { key: number; value: string }[] = [];
    for (const [column, value] of Object.entries(where)) {
      const key = layout.keys.findIndex((c) => c.name === column);
      const field = layout.fields.findIndex((c) => c.name === column);
      const attribute = layout.attributes.findIndex((c) => c.name === column);
      if (key === 0 && layout.keys.length === 1) {
        clauses.push('k = ?');
        params.push(value);
      } else if (key === 0) {
        clauses.push('k >= ? AND k < ?');
        params.push(value + KEY_SEPARATOR, value + String.fromCharCode(KEY_SEPARATOR.charCodeAt(0) + 1));
      } else if (key > 0) later.push({ key, value });
      else if (field >= 0) {
        const n = Number(value);
        if (value.trim() === '' || !Number.isFinite(n))
          throw new SluiceError('bad_query', `'${column}' is numeric; '${value}' is not a number`);
        clauses.push(`f${field} = ?`);
        params.push(n);
      } else if (attribute >= 0) {
        clauses.push(`a${attribute} = ?`);
        params.push(value);
      } else if (layout.time?.name === column) {
        clauses.push('time_text = ?');
        params.push(value);
      } else
        throw new SluiceError(
          'bad_query',
          `'${column}' is not a key, field, attribute or time column of '${layout.spec.name}'`,
        );
    }
    const sql =
      `SELECT ${columnList(reader.shape)} FROM records` +
      `${clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY k` +
      (later.length === 0 ? ` LIMIT ${Math.max(0, Math.floor(limit))}` : '');
    const out: KeyedRecord[] = [];
    for (const row of reader.db
      .prepare(sql)
      .raw(true)
      .iterate(...params) as Iterable<RawRow>) {
      const record = toRecord(row, reader.shape);
      if (later.every((c) => record.keys[c.key] === c.value)) out.push(record);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * Removes a version: the pointer first when it is the published one (readers then see "no records"
   * rather than a dangling version) and its read connection, then its files, on the build thread,
   * after any write already sent for it. Unlinking a large file takes a while; the event loop does not.
   */
  async drop(dataset: string, version: number): Promise<void> {
    const file = this.fileOf(dataset, version);
    this.deleteCurrent.run(dataset, version);
    const reader = this.current.get(dataset);
    if (reader?.version === version) {
      this.current.set(dataset, null);
      reader.db.close();
    }
    await this.builder.discard(file);
  }

  list(dataset: string): number[] {
    return listVersionFiles(this.recordsDir, dataset);
  }

  /**
   * Pages through the version by key, one short query per chunk, and yields to the event loop in
   * between: a long-running `.iterate()` would keep the connection busy (no other statement can run
   * on it) for the whole scan of a 100M-row version. A version that is not the published one (being
   * built) is read through a connection of its own, closed at the end.
   */
  async scan(dataset: string, version: number, onChunk: (records: KeyedRecord[]) => void): Promise<void> {
    const published = this.currentReader(dataset);
    const own =
      published?.version === version ? null : openReader(this.fileOf(dataset, version), version, false);
    const reader = own ?? published!;
    try {
      const cols = columnList(reader.shape);
      const first = reader.db.prepare(`SELECT ${cols} FROM records ORDER BY k LIMIT ${SCAN_CHUNK}`).raw(true);
      const after = reader.db
        .prepare(`SELECT ${cols} FROM records WHERE k > ? ORDER BY k LIMIT ${SCAN_CHUNK}`)
        .raw(true);
      let lastKey: string | undefined;
      for (;;) {
        const chunk: KeyedRecord[] = [];
        const rows = lastKey === undefined ? first.iterate() : after.iterate(lastKey);
        for (const row of rows as Iterable<RawRow>) chunk.push(toRecord(row, reader.shape));
        if (chunk.length === 0) return;
        lastKey = joinKey(chunk[chunk.length - 1].keys);
        onChunk(chunk);
        if (chunk.length < SCAN_CHUNK) return;
        await yieldToEventLoop();
      }
    } finally {
      own?.db.close();
    }
  }

  /** Closes the read connections (before closing the database). */
  clear(): void {
    for (const reader of this.current.values()) reader?.db.close();
    this.current.clear();
  }

  private fileOf(dataset: string, version: number): string {
    return versionFile(this.recordsDir, dataset, version);
  }

  private currentReader(dataset: string): Reader | null {
    let reader = this.current.get(dataset);
    if (reader === undefined) {
      const version = this.selectCurrent.get(dataset) as number | undefined;
      reader = version === undefined ? null : openReader(this.fileOf(dataset, version), version, true);
      this.current.set(dataset, reader);
    }
    return reader;
  }
}

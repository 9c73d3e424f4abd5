import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { DedupGuard } from '../../apply/dedup-guard.js';
import { DedupIndex } from '../../apply/dedup-index.js';
import { ROLLUP_SLICE_MS } from '../../apply/rollups/cell-block.js';
import { RollupMaintainer, type RollupMaintainerOptions } from '../../apply/rollups/rollup-maintainer.js';
import type { ColumnarBatch } from '../../core/batch.js';
import type { DatasetLayout } from '../../core/dataset.js';
import { SluiceError, isSluiceError } from '../../core/errors.js';
import { TimeSlicer } from '../../core/time-slicer.js';
import type { RollupDeltaSet } from '../../apply/rollups/rollup-accumulator.js';
import type {
  AppendResult,
  KeyFilter,
  RetentionCutoffs,
  RetentionResult,
  RollupGroup,
  RollupQuery,
  ScanChunk,
  SeriesCapability,
  SeriesPoint,
  SeriesQuery,
  SeriesStore,
  RowsQuery,
  StoredHashesQuery,
  StoredRow,
} from '../series-store.js';
import { AsyncMutex, MutexPool } from '../../core/async-mutex.js';
import { assertBatchFits, keptRows } from './duckdb-chunk-writer.js';
import { instanceConfig } from './duckdb-instance-config.js';
import { registerDuckDbMemoryGauge } from './duckdb-memory-gauge.js';
import { appliedCounts, recordApplied } from './duckdb-applied.js';
import { insertGroupRows } from './duckdb-group-rows.js';
import { type PendingPart, PendingRowsSource } from './duckdb-pending-rows.js';
import { numberOrNull, readDoubles, streamScan, textOf, textOrNull } from './duckdb-result-values.js';
import { RollupRowsSource } from './duckdb-rollup-writer.js';
import { PartitionMap, parsePartitionTable, partitionTableOf } from './duckdb-partitions.js';
import { deleteExpiredRollups, dropExpiredPartitions } from './duckdb-retention.js';
import { rollupGroupsOf, rollupReadSql } from './duckdb-rollup-read.js';
import {
  CREATE_WATERMARK_SQL,
  createRollupTableSql,
  mergeAllRollups,
  rollupColumnDefs,
  isRollupTableOf,
  rollupTablesOf,
} from './duckdb-rollups.js';
import {
  CREATE_APPLIED_SQL,
  HASH_COLUMN,
  MIGRATE_APPLIED_SQL,
  SEQ_COLUMN,
  TIME_COLUMN,
  type SqlParam,
  createTableSql,
  describeColumns,
  latestManySql,
  rowsSql,
  latestSql,
  physicalColumns,
  quoteIdent,
  requestedFields,
  scanSql,
  seriesSql,
  tableNameOf,
  unionSource,
} from './duckdb-sql.js';

export interface DuckDbSeriesStoreOptions {
  /** Database file, or ':memory:'. */
  path: string;
  /** DuckDB's `threads` setting; DuckDB's default (one per core) when omitted. */
  threads?: number;
  /** DuckDB memory limit, e.g. '1GB'. */
  memoryLimit?: string;
  /** Connections that serve reads, so queries do not wait behind a long write. Default 2. */
  readConnections?: number;
  /**
   * WAL size that triggers an automatic checkpoint. Default: `checkpointThresholdFor(memoryLimit)`
   * (duckdb-instance-config.ts).
   */
  checkpointThreshold?: string;
  /** Row hashes each deduplicating dataset keeps in memory (see DedupGuard); default 4M. */
  dedupMemoryRows?: number;
  /** When applied rows are folded into the stored rollups. Default: every 2 s, or past 500k rows. */
  rollups?: RollupMaintainerOptions;
  /** Where the store's rollup metrics go; a private registry when omitted. */
  metrics?: Registry;
  log?: Logger;
}

function storeError(what: string, e: unknown): SluiceError {
  if (isSluiceError(e)) return e;
  const message = e instanceof Error ? e.message : String(e);
  // I/O failures (disk full, file gone) and memory pressure may clear up, and a database DuckDB has
  // invalidated is reopened (ThreadedSeriesStore); anything else is a bug or bad data.
  const code = /^IO Error|Out of Memory Error|database has been invalidated/i.test(message)
    ? 'store_unavailable'
    : 'internal';
  return new SluiceError(code, `${what}: ${message}`, { cause: e });
}

const DEFAULT_DEDUP_ROWS = 4_000_000;

export const DUCKDB_CAPABILITIES: ReadonlySet<SeriesCapability> = new Set<SeriesCapability>([
  'append',
  'series',
  'latest',
  'scan',
  'rollups',
  'retention',
]);

/** A row of `recordColumns` (keys, t_us, fields, payloads, attributes) as a StoredRow. */
function storedRowOf(layout: DatasetLayout, row: readonly DuckDBValue[]): StoredRow {
  let at = 0;
  const take = (n: number): readonly DuckDBValue[] => row.slice(at, (at += n));
  return {
    keys: take(layout.keys.length).map(textOf),
    timeUs: numberOrNull(take(1)[0] ?? null),
    fields: take(layout.fields.length).map(numberOrNull),
    payloads: take(layout.payloads.length).map(textOrNull),
    attributes: take(layout.attributes.length).map(textOrNull),
  };
}

/**
 * SeriesStore on an embedded DuckDB file. A dataset's rows live in one table per UTC day
 * (`p_<name>_<yyyymmdd>`, see duckdb-partitions.ts) beside its base table `ds_<name>`; its rollups in
 * `r_<name>_<1m|1h|1d>` (duckdb-rollups.ts). `_applied` holds the batch ids already stored with their
 * apply sequence, `_rollup_watermark` the sequence each dataset's rollups cover. All writes go through one connection, one at a time; reads use a small
 * pool of other connections and see committed data only.
 *
 * Durability: DuckDB writes each commit to its write-ahead log before COMMIT returns, so an append
 * survives a killed process once it resolves; `close` checkpoints to fold the log into the file.
 */
export class DuckDbSeriesStore implements SeriesStore {
  readonly kind = 'duckdb';
  readonly capabilities: ReadonlySet<SeriesCapability> = DUCKDB_CAPABILITIES;

  private readonly writeMutex = new AsyncMutex();
  /**
   * Rollup merges and rollup retention run on their own connection, so they go on beside appends
   * (they touch other tables, so the two never conflict). Lock order: writeMutex before rollupMutex.
   */
  private readonly rollupMutex = new AsyncMutex();
  private rollupConn: DuckDBConnection | undefined;
  private rollupRows: RollupRowsSource | undefined;
  private instance: DuckDBInstance | undefined;
  private writer: DuckDBConnection | undefined;
  private readers: MutexPool<DuckDBConnection> | undefined;
  /** Dataset name to the columns and rollup tables checked against storage. Only the writer changes it. */
  private readonly ensured = new Map<string, string>();
  /** Dataset tables present in the file; reads of other datasets return nothing. */
  private readonly tables = new Set<string>();
  private readonly partitions = new PartitionMap();
  /** Latest bucket stored per rollup table, once read; see mergeAllRollups. Only the writer uses it. */
  private readonly rollupsUpTo = new Map<string, number>();
  /** Apply sequence of the last batch given one; a rolled-back append leaves a gap, which is fine. */
  private seq = 0;
  private rowSource: PendingRowsSource | undefined;
  /** Per deduplicating dataset, the hashes of recent rows (see DedupGuard). Only the writer uses it. */
  private readonly dedup = new Map<string, DedupGuard>();
  /** Folds appended rows into the rollups in the background (see RollupMaintainer). */
  private readonly rollups: RollupMaintainer;
  private readonly log: Logger;

  constructor(private readonly opts: DuckDbSeriesStoreOptions) {
    this.log = opts.log ?? pino({ level: 'silent' });
    this.rollups = new RollupMaintainer({
      target: {
        lastSeq: () => Promise.resolve(this.seq),
        rollupWatermark: (dataset) => this.rollupWatermark(dataset),
        scan: (layout, onChunk, seqs) => this.scan(layout, onChunk, seqs),
        mergeRollups: (layout, deltas, throughSeq) => this.mergeRollups(layout, deltas, throughSeq),
      },
      log: this.log,
      metrics: opts.metrics ?? new Registry(),
      options: opts.rollups ?? { flushIntervalMs: 2000, maxPendingRows: 500_000 },
    });
    if (opts.metrics !== undefined) registerDuckDbMemoryGauge(opts.metrics, () => this.readers);
  }

  async init(): Promise<void> {
    if (this.instance !== undefined) return;
    try {
      const instance = await DuckDBInstance.create(this.opts.path, instanceConfig(this.opts));
      const writer = await instance.connect();
      await writer.run(CREATE_APPLIED_SQL);
      await writer.run(MIGRATE_APPLIED_SQL);
      await writer.run(CREATE_WATERMARK_SQL);
      const last = await writer.runAndReadAll('SELECT coalesce(max(seq), 0) FROM _applied');
      this.seq = numberOrNull(last.getRows()[0]?.[0] ?? null) ?? 0;
      this.rowSource = new PendingRowsSource(writer);
      const readerCount = Math.max(1, this.opts.readConnections ?? 2);
      const readers: DuckDBConnection[] = [];
      for (let i = 0; i < readerCount; i++) readers.push(await instance.connect());
      const existing = await writer.runAndReadAll(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND database_name = current_database()",
      );
      for (const [name] of existing.getRows()) {
        const table = textOf(name ?? '');
        const part = parsePartitionTable(table);
        if (part) this.partitions.add(part.dataset, part.day);
        else this.tables.add(table);
      }
      this.rollupConn = await instance.connect();
      this.rollupRows = new RollupRowsSource(this.rollupConn);
      this.instance = instance;
      this.writer = writer;
      this.readers = new MutexPool(readers);
    } catch (e) {
      throw new SluiceError('store_unavailable', `cannot open DuckDB at ${this.opts.path}: ${String(e)}`, {
        cause: e,
      });
    }
    this.rollups.start();
  }

  async close(): Promise<void> {
    const instance = this.instance;
    if (instance === undefined) return;
    try {
      await this.rollups.close();
    } catch (err) {
      // The rows are stored; the next start rolls up what this flush could not.
      this.log.error({ err }, 'the last rollup flush failed');
    }
    await this.writeMutex.run(() =>
      this.rollupMutex.run(async () => {
        this.rollupConn?.closeSync();
        this.rollupConn = undefined;
        this.rollupRows = undefined;
        try {
          await this.writer?.run('CHECKPOINT');
        } catch (err) {
          // Closing goes on: the WAL holds every commit, and the next open replays it.
          this.log.error({ err }, 'the checkpoint at close failed');
        }
        this.writer?.closeSync();
      }),
    );
    await this.readers?.forEach((conn) => {
      conn.closeSync();
      return Promise.resolve();
    });
    instance.closeSync();
    this.instance = undefined;
    this.writer = undefined;
    this.readers = undefined;
    this.ensured.clear();
    this.tables.clear();
    this.partitions.clear();
    this.rollupsUpTo.clear();
    this.rowSource = undefined;
  }

  private open(): { writer: DuckDBConnection; readers: MutexPool<DuckDBConnection> } {
    if (this.writer === undefined || this.readers === undefined) {
      throw new SluiceError('store_unavailable', 'the DuckDB series store is not open');
    }
    return { writer: this.writer, readers: this.readers };
  }

  async ensureDataset(layout: DatasetLayout): Promise<void> {
    return this.writeMutex.run(() => this.ensureLocked(layout));
  }

  /** Runs under the write mutex. */
  private async ensureLocked(layout: DatasetLayout): Promise<void> {
    const { writer } = this.open();
    const name = layout.spec.name;
    const cols = physicalColumns(layout);
    const wanted = describeColumns(cols);
    // Declared rollup levels may change while the columns stay: they are part of what was ensured.
    const signature = `${wanted} | ${rollupTablesOf(layout)
      .map((t) => t.table)
      .join(', ')}`;
    if (this.ensured.get(name) === signature) return;
    const table = tableNameOf(name);
    const stored = await this.columnsOf(writer, table);
    if (stored.length > 0 && `${stored.join(', ')}, ${SEQ_COLUMN} BIGINT` === wanted) {
      // Written before rows carried their apply sequence: those rows read as sequence 0.
      await writer.run(
        `ALTER TABLE ${quoteIdent(table)} ADD COLUMN ${quoteIdent(SEQ_COLUMN)} BIGINT DEFAULT 0`,
      );
    } else if (stored.length === 0) {
      await writer.run(createTableSql(table, cols));
    } else if (stored.join(', ') !== wanted) {
      throw new SluiceError(
        'internal',
        `dataset ${name}: the stored table ${table} has columns (${stored.join(', ')}) but the dataset ` +
          `now needs (${wanted}); drop the dataset's data or restore its previous schema`,
      );
    }
    if (layout.spec.mode === 'append') await this.ensureRollupTables(writer, layout);
    this.ensured.set(name, signature);
    this.tables.add(table);
    // Under the write mutex, so before any append of this dataset since the store opened.
    await this.rollups.noteDataset(layout);
  }

  private async columnsOf(conn: DuckDBConnection, table: string): Promise<string[]> {
    const reader = await conn.runAndReadAll(
      "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' " +
        'AND database_name = current_database() AND table_name = $1 ORDER BY column_index',
      [table],
    );
    return reader.getRows().map(([n, t]) => `${textOf(n ?? '')} ${textOf(t ?? '')}`);
  }

  private async ensureRollupTables(writer: DuckDBConnection, layout: DatasetLayout): Promise<void> {
    for (const { table, level } of rollupTablesOf(layout)) {
      const wanted = rollupColumnDefs(level.layout)
        .map((d) => d.replaceAll('"', ''))
        .join(', ');
      const stored = await this.columnsOf(writer, table);
      if (stored.length === 0) await writer.run(createRollupTableSql(table, level.layout));
      else if (stored.join(', ') !== wanted)
        throw new SluiceError(
          'internal',
          `dataset ${layout.spec.name}: the rollup table ${table} has columns (${stored.join(', ')}) but the ` +
            `dataset now needs (${wanted}); drop the dataset's data or restore its previous schema`,
        );
      this.tables.add(table);
    }
  }

  async dropDataset(name: string): Promise<void> {
    await this.rollups.forget(name);
    return this.writeMutex.run(() => this.rollupMutex.run(() => this.dropLocked(name)));
  }

  /** Runs under both mutexes. */
  private async dropLocked(name: string): Promise<void> {
    const { writer } = this.open();
    const table = tableNameOf(name);
    const tables = [
      table,
      ...this.partitions.daysOf(name).map((d) => partitionTableOf(name, d)),
      ...[...this.tables].filter((t) => isRollupTableOf(t, name)),
    ];
    await writer.run('BEGIN TRANSACTION');
    try {
      for (const t of tables) await writer.run(`DROP TABLE IF EXISTS ${quoteIdent(t)}`);
      await writer.run('DELETE FROM _applied WHERE dataset = $1', [name]);
      await writer.run('DELETE FROM _rollup_watermark WHERE dataset = $1', [name]);
      await writer.run('COMMIT');
    } catch (e) {
      await this.rollbackQuietly(writer);
      throw storeError(`dropping dataset ${name}`, e);
    }
    this.ensured.delete(name);
    this.dedup.delete(name);
    for (const t of tables) {
      this.tables.delete(t);
      this.rollupsUpTo.delete(t);
    }
    this.partitions.forget(name);
  }

  async append(layout: DatasetLayout, batch: ColumnarBatch, keep?: Uint8Array): Promise<AppendResult> {
    const [result] = await this.appendMany(layout, [{ batch, keep }]);
    return result!;
  }

  async appendMany(
    layout: DatasetLayout,
    items: readonly { batch: ColumnarBatch; keep?: Uint8Array }[],
  ): Promise<AppendResult[]> {
    for (const { batch, keep } of items) assertBatchFits(layout, batch, keep);
    // Rollups that fall far behind hold the append back (outside the write lock, which a flush takes).
    await this.rollups.admit();
    return this.writeMutex.run(async () => {
      const { writer } = this.open();
      await this.ensureLocked(layout);
      const created: number[] = [];
      const masked = new Map<number, Uint8Array>();
      await writer.run('BEGIN TRANSACTION');
      try {
        // A constraint error would abort the whole transaction, so replays are found up front.
        const done = await appliedCounts(
          writer,
          items.map((i) => i.batch.id),
        );
        const dedup = this.dedupOf(layout, items);
        const results: AppendResult[] = [];
        const stored: PendingPart[] = [];
        for (const [k, { batch, keep: given }] of items.entries()) {
          // Applied before, or earlier in this group (a log may hold a batch twice after a crash).
          const prior = done.get(batch.id);
          if (prior) {
            results.push({ applied: false, ...prior, seq: 0 });
            continue;
          }
          const keep = given ?? (dedup === null ? undefined : await dedup.mask(batch));
          if (given === undefined && keep !== undefined) masked.set(k, keep);
          const rows = keptRows(batch.length, keep);
          const seq = ++this.seq;
          stored.push({ batch, rows, seq });
          const counts = { inserted: rows.length, duplicate: batch.length - rows.length };
          done.set(batch.id, counts);
          const dropped = given === undefined && keep !== undefined && counts.duplicate > 0;
          results.push({ applied: true, ...counts, seq, ...(dropped ? { kept: keep } : {}) });
        }
        // One statement each for the whole group: a DuckDB statement costs milliseconds whatever its size.
        await recordApplied(writer, stored);
        await insertGroupRows(
          { writer, rows: this.pendingRows(writer), partitions: this.partitions },
          layout,
          stored,
          created,
        );
        await writer.run('COMMIT');
        for (const day of created) this.partitions.add(layout.spec.name, day);
        // Folding a group into dedup and the rollup accumulators takes a few milliseconds a batch:
        // queries on this thread get in between. Appends wait (the write mutex is held), so the next
        // group's dedup masks still see every row of this one.
        const slicer = new TimeSlicer(ROLLUP_SLICE_MS);
        for (const [k, r] of results.entries()) {
          if (!r.applied) continue;
          if (slicer.due) await slicer.pause();
          const { batch } = items[k]!;
          const keep = masked.get(k);
          if (keep !== undefined) dedup?.commit(batch, keep);
          if (r.inserted > 0) this.rollups.enqueue(layout, batch, r.kept, r.seq);
        }
        return results;
      } catch (e) {
        await this.rollbackQuietly(writer);
        throw storeError(`appending ${items.length} batches from ${items[0]?.batch.id}`, e);
      }
    });
  }

  /**
   * The dedup of a group whose batches carry no masks of their own: the dataset's guard against stored
   * rows, and an index of the rows kept by earlier batches of the group, which are not stored yet.
   */
  private dedupOf(
    layout: DatasetLayout,
    items: readonly { batch: ColumnarBatch; keep?: Uint8Array }[],
  ): {
    mask(batch: ColumnarBatch): Promise<Uint8Array>;
    commit(batch: ColumnarBatch, keep: Uint8Array): void;
  } | null {
    if (layout.spec.dedup === 'none') return null;
    const name = layout.spec.name;
    let guard = this.dedup.get(name);
    if (guard === undefined || guard.layout !== layout) {
      guard = new DedupGuard(layout, this, this.opts.dedupMemoryRows ?? DEFAULT_DEDUP_ROWS);
      this.dedup.set(name, guard);
    }
    const known = guard;
    const inGroup = new DedupIndex(items.reduce((n, it) => n + it.batch.length, 0));
    return {
      mask: async (batch) => {
        const keep = batch.hashes === null ? new Uint8Array(batch.length).fill(1) : await known.mask(batch);
        if (batch.hashes !== null)
          for (let r = 0; r < batch.length; r++)
            if (keep[r] === 1 && !inGroup.add(batch.hashes[r]!)) keep[r] = 0;
        return keep;
      },
      commit: (batch, keep) => {
        if (batch.hashes !== null) known.commit(batch, keep);
      },
    };
  }

  private pendingRows(writer: DuckDBConnection): PendingRowsSource {
    if (this.rowSource === undefined || writer !== this.writer) {
      throw new SluiceError('store_unavailable', 'the DuckDB series store is not open');
    }
    return this.rowSource;
  }

  private async rollbackQuietly(conn: DuckDBConnection): Promise<void> {
    try {
      await conn.run('ROLLBACK');
    } catch {
      // A failed COMMIT has already rolled back, and then there is no transaction left to end.
    }
  }

  async isApplied(batchId: string): Promise<boolean> {
    return this.open().readers.run(async (conn) => (await appliedCounts(conn, [batchId])).has(batchId));
  }

  async series(layout: DatasetLayout, query: SeriesQuery): Promise<SeriesPoint[]> {
    const { readers } = this.open();
    const fields = requestedFields(layout, query.fields);
    if (!this.tables.has(tableNameOf(layout.spec.name))) return [];
    const source = unionSource(this.partitions.tablesFor(layout.spec.name, query.fromUs, query.toUs));
    const { sql, params } = seriesSql(layout, query, fields, source);
    const nk = layout.keys.length;
    const rows = await readers.run(async (conn) => {
      try {
        return (await conn.runAndReadAll(sql, params)).getRows();
      } catch (e) {
        throw storeError(`series query on ${layout.spec.name}`, e);
      }
    });
    // Rows come ordered by key, so a series' points share one keys array.
    let keys: string[] = [];
    return rows.map((row) => {
      if (nk > 0 && !sameKeys(keys, row)) keys = row.slice(0, nk).map(textOf);
      return {
        keys,
        timeUs: numberOrNull(row[nk] ?? null) ?? 0,
        values: row.slice(nk + 1).map(numberOrNull),
      };
    });
  }

  async latest(layout: DatasetLayout, keys: KeyFilter): Promise<StoredRow | undefined> {
    const { readers } = this.open();
    if (!this.tables.has(tableNameOf(layout.spec.name))) return undefined;
    const { sql, params } = latestSql(layout, keys, this.sourceOf(layout.spec.name));
    const row = await readers.run(async (conn) => {
      try {
        return (await conn.runAndReadAll(sql, params)).getRows()[0];
      } catch (e) {
        throw storeError(`latest query on ${layout.spec.name}`, e);
      }
    });
    return row === undefined ? undefined : storedRowOf(layout, row);
  }

  async latestMany(layout: DatasetLayout, keys: KeyFilter): Promise<StoredRow[]> {
    const { readers } = this.open();
    if (!this.tables.has(tableNameOf(layout.spec.name))) return [];
    const { sql, params } = latestManySql(layout, keys, this.sourceOf(layout.spec.name));
    const rows = await readers.run(async (conn) => {
      try {
        return (await conn.runAndReadAll(sql, params)).getRows();
      } catch (e) {
        throw storeError(`latest query on ${layout.spec.name}`, e);
      }
    });
    return rows.map((row) => storedRowOf(layout, row));
  }

  async rows(layout: DatasetLayout, query: RowsQuery): Promise<StoredRow[]> {
    const { readers } = this.open();
    if (!this.tables.has(tableNameOf(layout.spec.name))) return [];
    const source = unionSource(this.partitions.tablesFor(layout.spec.name, query.fromUs, query.toUs));
    const { sql, params } = rowsSql(layout, query, source);
    const rows = await readers.run(async (conn) => {
      try {
        return (await conn.runAndReadAll(sql, params)).getRows();
      } catch (e) {
        throw storeError(`rows query on ${layout.spec.name}`, e);
      }
    });
    return rows.map((row) => storedRowOf(layout, row));
  }

  /** Every table holding the dataset's rows, as one SQL source. */
  private sourceOf(dataset: string): string {
    return unionSource(this.partitions.tablesFor(dataset));
  }

  async scan(
    layout: DatasetLayout,
    onChunk: (chunk: ScanChunk) => void | Promise<void>,
    opts: { afterSeq?: number; throughSeq?: number } = {},
  ): Promise<void> {
    const { readers } = this.open();
    if (!this.tables.has(tableNameOf(layout.spec.name))) return;
    let callbackFailed = false;
    const guarded = async (chunk: ScanChunk): Promise<void> => {
      try {
        await onChunk(chunk);
      } catch (e) {
        callbackFailed = true;
        throw e;
      }
    };
    await readers.run(async (conn) => {
      try {
        await streamScan(conn, layout, guarded, scanSql(layout, this.sourceOf(layout.spec.name), opts));
      } catch (e) {
        // The caller's own error reaches it unchanged.
        throw callbackFailed ? e : storeError(`scanning ${layout.spec.name}`, e);
      }
    });
  }

  async storedHashes(layout: DatasetLayout, q: StoredHashesQuery): Promise<Float64Array | undefined> {
    const { readers } = this.open();
    const name = layout.spec.name;
    if (!this.tables.has(tableNameOf(name))) return new Float64Array(0);
    const params: SqlParam[] = [];
    const hash = quoteIdent(HASH_COLUMN);
    const where = [`${hash} IS NOT NULL`];
    let source: string;
    if (q.time === null) {
      source = quoteIdent(tableNameOf(name));
      where.push(`${quoteIdent(TIME_COLUMN)} IS NULL`);
    } else if (q.time === undefined) {
      source = this.sourceOf(name);
    } else {
      source = unionSource(this.partitions.tablesFor(name, q.time.fromUs, q.time.toUs));
      params.push(BigInt(Math.ceil(q.time.fromUs)), BigInt(Math.ceil(q.time.toUs)));
      const t = quoteIdent(TIME_COLUMN);
      where.push(`${t} >= make_timestamp($1::BIGINT) AND ${t} < make_timestamp($2::BIGINT)`);
    }
    if (q.among !== undefined) {
      if (q.among.length === 0) return new Float64Array(0);
      // Hashes are integers below 2^53, so their decimal text is exact.
      params.push(Array.from(q.among).join(','));
      where.push(`${hash} IN (SELECT unnest(string_split($${params.length}, ','))::DOUBLE)`);
    }
    const limit = q.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(q.limit)) + 1}`;
    const sql = `SELECT ${hash} FROM ${source} WHERE ${where.join(' AND ')}${limit}`;
    const values = await readers.run(async (conn) => {
      try {
        return await readDoubles(conn, sql, params);
      } catch (e) {
        throw storeError(`reading stored hashes of ${name}`, e);
      }
    });
    return q.limit !== undefined && values.length > q.limit ? undefined : values;
  }

  async count(layout: DatasetLayout): Promise<number> {
    const { readers } = this.open();
    const table = tableNameOf(layout.spec.name);
    if (!this.tables.has(table)) return 0;
    return readers.run(async (conn) => {
      const reader = await conn.runAndReadAll(`SELECT count(*) FROM ${this.sourceOf(layout.spec.name)}`);
      return numberOrNull(reader.getRows()[0]?.[0] ?? null) ?? 0;
    });
  }

  /** Apply sequence of the last batch stored (0 before the first). */
  lastSeq(): Promise<number> {
    this.open();
    return Promise.resolve(this.seq);
  }

  flushRollups(): Promise<void> {
    this.open();
    return this.rollups.flush();
  }

  async rollupWatermark(dataset: string): Promise<number> {
    return this.open().readers.run(async (conn) => {
      const reader = await conn.runAndReadAll('SELECT seq FROM _rollup_watermark WHERE dataset = $1', [
        dataset,
      ]);
      return numberOrNull(reader.getRows()[0]?.[0] ?? null) ?? 0;
    });
  }

  private rollupConnection(): DuckDBConnection {
    if (this.rollupConn === undefined)
      throw new SluiceError('store_unavailable', 'the DuckDB series store is not open');
    return this.rollupConn;
  }

  private rollupWriter(): RollupRowsSource {
    if (this.rollupRows === undefined)
      throw new SluiceError('store_unavailable', 'the DuckDB series store is not open');
    return this.rollupRows;
  }

  /**
   * Merges `deltas` into the stored rollups and moves the dataset's rollup watermark to `throughSeq`,
   * in one transaction: after a crash either both happened or neither. Called by the store's own
   * RollupMaintainer.
   */
  private async mergeRollups(
    layout: DatasetLayout,
    deltas: RollupDeltaSet,
    throughSeq: number,
  ): Promise<void> {
    // The tables are made by the writer; the merge itself runs beside appends.
    await this.writeMutex.run(() => this.ensureLocked(layout));
    return this.rollupMutex.run(async () => {
      const conn = this.rollupConnection();
      await conn.run('BEGIN TRANSACTION');
      try {
        const written = await mergeAllRollups(conn, layout, deltas, this.rollupsUpTo, this.rollupWriter());
        await conn.run('INSERT OR REPLACE INTO _rollup_watermark (dataset, seq) VALUES ($1, $2::BIGINT)', [
          layout.spec.name,
          BigInt(throughSeq),
        ]);
        await conn.run('COMMIT');
        for (const [table, latest] of written)
          this.rollupsUpTo.set(table, Math.max(latest, this.rollupsUpTo.get(table) ?? -Infinity));
      } catch (e) {
        await this.rollbackQuietly(conn);
        throw storeError(`merging rollups of ${layout.spec.name}`, e);
      }
    });
  }

  async readRollups(layout: DatasetLayout, query: RollupQuery): Promise<RollupGroup[]> {
    const { readers } = this.open();
    const name = layout.spec.name;
    const built = rollupReadSql(layout, query, {
      existing: this.tables,
      rawSource: (fromUs, toUs) =>
        this.tables.has(tableNameOf(name))
          ? unionSource(this.partitions.tablesFor(name, fromUs, toUs))
          : undefined,
    });
    if (built === undefined) return [];
    const rows = await readers.run(async (conn) => {
      try {
        return (await conn.runAndReadAll(built.sql, built.params)).getRows();
      } catch (e) {
        throw storeError(`rollup query on ${layout.spec.name}`, e);
      }
    });
    return rollupGroupsOf(query, rows);
  }

  async dropExpired(layout: DatasetLayout, cutoffs: RetentionCutoffs): Promise<RetentionResult> {
    // Rows about to go must be in the rollups first: they keep answering for their longer retention.
    await this.flushRollups();
    const raw = await this.writeMutex.run(async () => {
      try {
        return await dropExpiredPartitions(this.open().writer, layout, this.partitions, cutoffs.rawBeforeUs);
      } catch (e) {
        throw storeError(`dropping expired partitions of ${layout.spec.name}`, e);
      }
    });
    const rollupRowsDropped = await this.rollupMutex.run(async () => {
      try {
        return await deleteExpiredRollups(
          this.rollupConnection(),
          layout,
          this.tables,
          cutoffs.rollupsBeforeUs,
        );
      } catch (e) {
        throw storeError(`dropping expired rollups of ${layout.spec.name}`, e);
      }
    });
    return { ...raw, rollupRowsDropped };
  }
}

/** Whether a result row starts with these key values. */
function sameKeys(keys: readonly string[], row: readonly DuckDBValue[]): boolean {
  if (keys.length === 0) return false;
  for (let i = 0; i < keys.length; i++) if (keys[i] !== textOf(row[i] ?? null)) return false;
  return true;
}

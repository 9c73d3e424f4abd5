import type { Applier } from '../apply/applier.js';
import type { BatchOutcome, ColumnarBatch, Reject } from '../core/batch.js';
import type { DatasetRegistry } from '../core/dataset-registry.js';
import { SluiceError, type RejectReason } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { Semaphore } from '../core/semaphore.js';
import type { BatchLog } from '../log/batch-log.js';
import { decodeBatch } from '../log/local/batch-decoder.js';
import type { DecodePool } from './decode-pool.js';
import { UploadDecoder } from './upload-decoder.js';

/**
 * Bodies at least this large decode on a decode thread (beside the event loop), at most
 * `MAX_THREAD_WRITES` at a time, the others waiting their turn: decoding a large body inline would
 * hold the event loop for tens of milliseconds. Smaller ones decode inline, where the hand-off to a
 * thread would cost more than it frees.
 */
const OFF_THREAD_BYTES = 256 * 1024;
const MAX_THREAD_WRITES = 2;
/** Batches a decode thread may run ahead of the log appends. */
const THREAD_WINDOW = 4;

/** Rejected rows a write result lists in full; the counts cover all of them. */
const MAX_LISTED_REJECTS = 100;

/** Prefix of the source ids of write requests (`w_…`); connectors choose their own (see `write`). */
export const WRITE_SOURCE_PREFIX = 'w_';

export interface WriteOptions {
  /** API key id of the writer; reported to batch listeners (quality counters, alerts). */
  client: string | null;
  /**
   * Source id of these rows; batch ids are `<source>:<seq>`. A caller that may send the same rows
   * again after a crash (a connector re-fetching a page) passes a deterministic source so that the
   * replay is applied once. Defaults to a fresh `w_…` id. Must carry a prefix registered with
   * `acceptPrefix`.
   */
  source?: string;
  /** First batch sequence number (default 0). */
  startSeq?: number;
  /** Resolve only once every batch is applied, with duplicate counts (default true). */
  waitApplied?: boolean;
}

export interface WriteResult {
  source: string;
  /** Batches appended to the BatchLog: `source:startSeq` … `source:startSeq+batches-1`. */
  batches: number;
  rows: { total: number; valid: number; invalid: number; duplicate: number };
  rejects_by_reason: Partial<Record<RejectReason, number>>;
  /** The first rejected rows, with their 1-based line in the request body. */
  rejects: Reject[];
  /** False when the rows are durable but not yet applied (waitApplied: false). */
  applied: boolean;
}

/**
 * Writes rows that arrive as NDJSON in memory (the records API, line protocol after translation,
 * connectors) through the same pipeline as uploads: decode and validate with the upload decoder, append
 * to the BatchLog (durable once `write` resolves), and let the Applier apply each batch exactly once.
 */
export class RecordWriter {
  private readonly prefixes = new Set<string>([WRITE_SOURCE_PREFIX]);
  private readonly clients = new Map<string, string | null>();
  private readonly waiters = new Map<string, (outcome: BatchOutcome | null) => void>();
  /** Turns on the decode threads for large bodies; see OFF_THREAD_BYTES. */
  private readonly threadTurns = new Semaphore(MAX_THREAD_WRITES);

  constructor(
    private readonly deps: {
      registry: DatasetRegistry;
      batchLog: BatchLog;
      applier: Applier;
      batchRows: number;
      maxLineBytes: number;
      /** Decode threads for large bodies; without it every body decodes on the event loop. */
      decoders?: DecodePool;
    },
  ) {
    deps.applier.acceptStreams({ clientOf: (source) => this.clientOf(source) });
    deps.applier.onBatchDone((batch, outcome) => this.waiters.get(batch.id)?.(outcome));
  }

  /** Lets sources with this id prefix (for example `c_` for connectors) through the Applier. */
  acceptPrefix(prefix: string): void {
    this.prefixes.add(prefix);
  }

  async write(dataset: string, ndjson: Buffer, opts: WriteOptions): Promise<WriteResult> {
    const { layout } = this.deps.registry.get(dataset);
    if (layout.spec.mode === 'replace')
      throw new SluiceError(
        'unsupported_for_mode',
        `Dataset '${dataset}' is in replace mode: it changes only through uploads, one whole snapshot each`,
      );
    const source = opts.source ?? newId(WRITE_SOURCE_PREFIX.slice(0, -1));
    if (this.clientOf(source) === undefined)
      throw new Error(`source '${source}' has no registered prefix; call acceptPrefix first`);
    const result: WriteResult = {
      source,
      batches: 0,
      rows: { total: 0, valid: 0, invalid: 0, duplicate: 0 },
      rejects_by_reason: {},
      rejects: [],
      applied: false,
    };
    const wait = opts.waitApplied ?? true;
    const outcomes: Promise<{ valid: number; duplicate: number }>[] = [];
    const ids: string[] = [];
    /** Counts the batch, registers its waiter, then makes it durable (the waiter must exist first). */
    const hand = async (b: ColumnarBatch, encoded?: Uint8Array): Promise<void> => {
      result.batches++;
      result.rows.total += b.totalRows;
      result.rows.invalid += b.rejects.length;
      for (const r of b.rejects) {
        result.rejects_by_reason[r.reason] = (result.rejects_by_reason[r.reason] ?? 0) + 1;
        if (result.rejects.length < MAX_LISTED_REJECTS) result.rejects.push(r);
      }
      ids.push(b.id);
      if (wait) outcomes.push(this.whenApplied(b.id));
      await (encoded ? this.deps.batchLog.appendEncoded(encoded) : this.deps.batchLog.append(b));
    };
    const decode = {
      batchRows: this.deps.batchRows,
      maxLineBytes: this.deps.maxLineBytes,
      nowMs: Date.now(),
      start: { offset: 0, line: 0 },
      startSeq: opts.startSeq ?? 0,
    };
    this.clients.set(source, opts.client);
    try {
      const pool = this.deps.decoders;
      if (pool && ndjson.length >= OFF_THREAD_BYTES) {
        // Decode on a thread beside the event loop; the batches come back encoded, ready for the log.
        const release = await this.threadTurns.acquire();
        try {
          await pool.decode(
            {
              ...decode,
              uploadId: source,
              path: '',
              bytes: ndjson,
              spec: layout.spec,
              format: 'ndjson',
              window: THREAD_WINDOW,
              limit: null,
              final: true,
            },
            { batch: (payload) => hand(decodeBatch(payload, { shareKeys: true }), payload) },
            new AbortController().signal,
          );
        } finally {
          release();
        }
      } else {
        const decoder = new UploadDecoder({ ...decode, source, layout, format: 'ndjson' });
        for (const b of [...decoder.push(ndjson), ...decoder.end()]) await hand(b);
      }
      for (const o of await Promise.all(outcomes)) {
        result.rows.valid += o.valid;
        result.rows.duplicate += o.duplicate;
      }
    } finally {
      for (const id of ids) this.waiters.delete(id);
      this.clients.delete(source);
    }
    if (!wait) result.rows.valid = result.rows.total - result.rows.invalid;
    result.applied = wait;
    return result;
  }

  /** A dropped batch (its dataset deleted meanwhile) counts as nothing applied. */
  private whenApplied(batchId: string): Promise<{ valid: number; duplicate: number }> {
    return new Promise((resolve) => {
      this.waiters.set(batchId, (o) => resolve({ valid: o?.valid ?? 0, duplicate: o?.duplicate ?? 0 }));
    });
  }

  /**
   * Batches of a known prefix are accepted even when their writer is gone: after a crash the BatchLog
   * replays them, and they must still be applied (once).
   */
  private clientOf(source: string): string | null | undefined {
    const client = this.clients.get(source);
    if (client !== undefined) return client;
    for (const p of this.prefixes) if (source.startsWith(p)) return null;
    return undefined;
  }
}

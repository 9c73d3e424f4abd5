import fs from 'node:fs';
import type { ColumnarBatch } from '../../core/batch.js';
import { isSluiceError, SluiceError } from '../../core/errors.js';
import type { BatchLog, BatchLogStats } from '../batch-log.js';
import { type AckPosition, readAck, removeAckTemp } from './ack-file.js';
import { BatchEncoder } from './batch-codec.js';
import { ConsumerPosition } from './consumer-position.js';
import { GroupCommit } from './group-commit.js';
import { GroupDelivery, type GroupHandler } from './group-delivery.js';
import { HotRecords } from './hot-records.js';
import { fsyncDir } from '../../core/file-io.js';
import { unavailable } from './log-errors.js';
import { PREFIX, type RecordRef, type Segment, writeRecord } from './segment-records.js';
import { createSegmentFile, listSegmentIds, openSegment, scanSegment } from './segment-scan.js';

/**
 * Payloads kept in memory between their write and their delivery (see HotRecords). Uploads keep a
 * dozen batches of backlog at most, so this holds the usual backlog of several busy writers.
 */
const HOT_RECORD_BYTES = 32 * 1024 * 1024;

/**
 * BatchLog over segment files in one directory.
 *
 * A record is `[u32 length][u32 crc32][payload]`, the payload being `[f64 appended-at ms][batch]`, so
 * lag survives a restart. A closed segment stays dirty until the next group fsync, which syncs it with
 * the new tail, so a roll never blocks the event loop on a whole segment's fsync. A torn record can
 * therefore sit in the last two segments; if it is in the older one, no fsync has completed since the
 * roll, so nothing in the newer one was ever acknowledged, and both are cut there. The consumer position lives in `consumer.json` (segment, offset after the
 * last acknowledged record), replaced atomically. Batches are delivered only once durable, so an
 * acknowledgement never points past data a crash could lose.
 */
export interface LocalBatchLogOptions {
  dir: string;
  /** A segment is closed once it reaches this size (default 64 MiB). */
  segmentBytes?: number;
  /** Appends within this window share one fsync (default 2; 0 starts each fsync at once). */
  groupCommitMs?: number;
  /** First and longest pause before redelivering a batch whose handler threw. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Called when a handler throws (batch given) or a record cannot be read (batch null). */
  onError?: (err: unknown, batch: ColumnarBatch | null) => void;
}

export class LocalBatchLog implements BatchLog {
  readonly kind = 'local';
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly onError: LocalBatchLogOptions['onError'];
  private readonly encoder = new BatchEncoder();
  private readonly hot = new HotRecords(HOT_RECORD_BYTES);

  private segments: Segment[] = [];
  /** Unacknowledged records in order; `head` is the next to deliver. */
  private queue: RecordRef[] = [];
  private head = 0;
  private backlogBytes = 0;
  private lastNo = 0;
  private durableNo = 0;
  /** Replaced by the one read from disk in `init`. */
  private position: ConsumerPosition;

  private readonly commit: GroupCommit;
  /**
   * The last record write queued: each write starts once the one before it settled, so records are
   * written one at a time, in call order. Never rejects (each append sees its own failure).
   */
  private writing: Promise<void> = Promise.resolve();
  /** Unlinks of acknowledged segments, in order. */
  private deletions: Promise<void> = Promise.resolve();

  private delivery: GroupDelivery | null = null;
  private closing: Promise<void> | null = null;
  private state: 'new' | 'open' | 'closing' | 'closed' = 'new';

  constructor(opts: LocalBatchLogOptions) {
    this.dir = opts.dir;
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.retryInitialMs = opts.retryInitialMs ?? 50;
    this.retryMaxMs = opts.retryMaxMs ?? 5000;
    this.onError = opts.onError;
    this.position = this.positionFrom({ segment: 0, offset: 0 });
    this.commit = new GroupCommit({
      dir: this.dir,
      delayMs: opts.groupCommitMs ?? 2,
      lastNo: () => this.lastNo,
      onDurable: (no) => {
        this.durableNo = Math.max(this.durableNo, no);
        this.delivery?.wake();
      },
    });
  }

  async init(): Promise<void> {
    if (this.state !== 'new') throw new SluiceError('internal', 'the batch log is already initialised');
    try {
      await this.load();
    } catch (err) {
      for (const seg of this.segments) fs.closeSync(seg.fd);
      this.segments = [];
      this.queue = [];
      this.backlogBytes = 0;
      this.lastNo = 0;
      throw isSluiceError(err) ? err : unavailable('cannot open the batch log', err);
    }
    this.state = 'open';
  }

  private async load(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    await removeAckTemp(this.dir);
    this.position = this.positionFrom(await readAck(this.dir));
    const ack = this.position.acknowledged;
    const ids = await listSegmentIds(this.dir);
    for (const [i, id] of ids.entries()) {
      const seg = openSegment(this.dir, id);
      this.segments.push(seg);
      if (id < ack.segment) continue;
      const start = id === ack.segment ? Math.min(ack.offset, seg.size) : 0;
      const cut = scanSegment(seg, start, i >= ids.length - 2, (offset, size, appendedAt) =>
        this.push({ no: ++this.lastNo, segment: seg, offset, size, appendedAt }),
      );
      if (cut && i === ids.length - 2) {
        // Torn before the last roll was synced: the newest segment holds nothing acknowledged.
        const last = openSegment(this.dir, ids[i + 1]!);
        fs.closeSync(last.fd);
        fs.rmSync(last.file, { force: true });
        await fsyncDir(this.dir);
        break;
      }
    }
    this.durableNo = this.lastNo;
    this.deleteAckedSegments();
    if (this.segments.length === 0) this.createSegment();
  }

  private push(ref: RecordRef): void {
    this.queue.push(ref);
    this.backlogBytes += ref.size;
  }

  private get tail(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  private createSegment(): void {
    const last = this.segments.at(-1)?.id ?? 0;
    // Never reuse the acknowledged segment's id: its stored offset would skip the new records.
    const id = Math.max(last, this.position.acknowledged.segment, this.position.persisted.segment) + 1;
    this.segments.push(createSegmentFile(this.dir, id));
    this.commit.markDirDirty();
  }

  append(batch: ColumnarBatch): Promise<void> {
    // A copy: the encoder reuses its buffer, and the record may wait for earlier writes.
    return this.appendRecord(() => Buffer.from(this.encoder.encode(batch, PREFIX)), null);
  }

  appendEncoded(payload: Uint8Array): Promise<void> {
    return this.appendRecord(() => Buffer.alloc(PREFIX), payload);
  }

  /**
   * Queues one record to be written; log order is call order. `frame()` gives the record's first
   * bytes with PREFIX bytes reserved for the header; the payload is either inside it (`tail` null) or
   * follows it. Resolves once the record is written and a group fsync has made it durable.
   */
  private appendRecord(frameOf: () => Buffer, tailPayload: Uint8Array | null): Promise<void> {
    if (this.state !== 'open')
      return Promise.reject(new SluiceError('store_unavailable', 'the batch log is not open'));
    if (this.commit.failure !== null)
      return Promise.reject(unavailable('the batch log failed to sync', this.commit.failure));
    const appendedAt = Date.now();
    let frame: Buffer;
    try {
      frame = frameOf();
    } catch (err) {
      return Promise.reject(
        err instanceof SluiceError ? err : unavailable('cannot write to the batch log', err),
      );
    }
    // Only a written record gets its number and waits for the group fsync, so a sync never counts a
    // record whose bytes are still on their way. The wait starts in the write's own continuation,
    // before any timer could start the next sync.
    const written = this.writing.then(() => this.write(frame, tailPayload, appendedAt));
    this.writing = written.catch(() => undefined);
    return written.then(() => this.commit.waitDurable());
  }

  /** Resolves once every record write queued so far, and any queued meanwhile, has settled. */
  private async writesSettled(): Promise<void> {
    for (let last = this.writing; ; last = this.writing) {
      await last;
      if (last === this.writing) return;
    }
  }

  /** Writes one record at the end of the log, off the event loop (see `writeFully`). */
  private async write(frame: Buffer, payload: Uint8Array | null, appendedAt: number): Promise<void> {
    if (this.commit.failure !== null) throw unavailable('the batch log failed to sync', this.commit.failure);
    let tail = this.tail;
    try {
      if (tail.size >= this.segmentBytes) {
        // The closed segment stays dirty: the next group fsync makes it durable with the new tail.
        this.createSegment();
        tail = this.tail;
        this.deleteAckedSegments();
      }
      const size = await writeRecord(tail, frame, payload, appendedAt);
      const ref: RecordRef = { no: ++this.lastNo, segment: tail, offset: tail.size, size, appendedAt };
      this.push(ref);
      this.hot.keep(ref, payload ?? frame.subarray(PREFIX));
      tail.size += size;
      this.commit.markDirty(tail);
    } catch (err) {
      try {
        fs.ftruncateSync(tail.fd, tail.size); // drop a partial write so the next record follows whole ones
      } catch {
        // the next open truncates the torn tail instead
      }
      throw err instanceof SluiceError ? err : unavailable('cannot write to the batch log', err);
    }
  }

  consume(handler: (batch: ColumnarBatch) => Promise<void>): void {
    this.consumeGroups((batches) => handler(batches[0]!), 1);
  }

  consumeGroups(handler: GroupHandler, maxBatches: number): void {
    if (this.state !== 'open') throw new SluiceError('internal', 'the batch log is not open');
    if (this.delivery !== null) throw new SluiceError('internal', 'the batch log already has a consumer');
    this.delivery = new GroupDelivery(
      {
        durable: (skip, max) => this.durableRecords(skip, max),
        read: (ref) => this.hot.take(ref),
        acknowledge: (ref) => this.acknowledge(ref),
        report: (err, batch) => this.report(err, batch),
      },
      handler,
      { maxBatches, retryInitialMs: this.retryInitialMs, retryMaxMs: this.retryMaxMs },
    );
  }

  private durableRecords(skip: number, max: number): RecordRef[] {
    const refs: RecordRef[] = [];
    for (let i = this.head + skip; i < this.queue.length && refs.length < max; i++) {
      const ref = this.queue[i]!;
      if (ref.no > this.durableNo) break;
      refs.push(ref);
    }
    return refs;
  }

  private report(err: unknown, batch: ColumnarBatch | null): void {
    try {
      this.onError?.(err, batch);
    } catch {
      // a failing error hook must not stop delivery
    }
  }

  private acknowledge(ref: RecordRef): void {
    this.hot.drop(ref);
    this.head++;
    this.backlogBytes -= ref.size;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.position.advance(ref.no, { segment: ref.segment.id, offset: ref.offset + ref.size });
  }

  private positionFrom(start: AckPosition): ConsumerPosition {
    return new ConsumerPosition(this.dir, start, {
      onPersisted: () => this.deleteAckedSegments(),
      onError: (err) => this.report(unavailable('cannot persist the batch log position', err), null),
    });
  }

  /** Deletes closed segments whose records are all acknowledged on disk. */
  private deleteAckedSegments(): void {
    const { segment, offset } = this.position.persisted;
    while (this.segments.length > 1) {
      const seg = this.segments[0]!;
      if (seg.id > segment || (seg.id === segment && offset < seg.size)) break;
      this.segments.shift();
      this.commit.forget(seg);
      fs.closeSync(seg.fd);
      // Off the event loop: unlinking a segment of many megabytes can take tens of milliseconds. A crash
      // before the unlink leaves an acknowledged segment, which the next open deletes.
      const file = seg.file;
      this.deletions = this.deletions.then(() =>
        fs.promises.rm(file, { force: true }).catch((err: unknown) => this.report(err, null)),
      );
    }
  }

  stats(): BatchLogStats {
    const oldest = this.queue[this.head];
    return {
      backlogBatches: this.queue.length - this.head,
      backlogBytes: this.backlogBytes,
      lagMs: oldest === undefined ? 0 : Math.max(0, Date.now() - oldest.appendedAt),
    };
  }

  /** Resolves once every record appended so far is acknowledged and its acknowledged segments deleted. */
  async drained(): Promise<void> {
    await this.writesSettled();
    if (this.position.lastPersisted < this.lastNo) {
      if (this.state !== 'open') throw new SluiceError('store_unavailable', 'the batch log is not open');
      await this.position.persistedThrough(this.lastNo);
    }
    await this.deletions;
  }

  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    if (this.state === 'new') {
      this.state = 'closed';
      return Promise.resolve();
    }
    this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.state = 'closing';
    this.delivery?.stop();
    await this.delivery?.done;
    await this.writesSettled();
    await this.commit.flush();
    await this.position.settled();
    await this.deletions;
    this.position.abandonWaits(new SluiceError('store_unavailable', 'the batch log closed before draining'));
    for (const seg of this.segments) fs.closeSync(seg.fd);
    this.segments = [];
    this.state = 'closed';
  }
}

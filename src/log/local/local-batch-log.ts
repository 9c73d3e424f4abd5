import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { ColumnarBatch } from '../../core/batch.js';
import { isSluiceError, SluiceError } from '../../core/errors.js';
import type { BatchLog, BatchLogStats } from '../batch-log.js';
import { BatchEncoder, decodeBatch } from './batch-codec.js';

/**
 * BatchLog over segment files in one directory.
 *
 * A record is `[u32 length][u32 crc32][payload]`, the payload being `[f64 appended-at ms][batch]`, so
 * lag survives a restart. Only the tail segment can hold a torn record: a segment is fsynced before
 * the next one is created. The consumer position lives in `consumer.json` (segment, offset after the
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

interface Segment {
  readonly id: number;
  readonly file: string;
  fd: number;
  size: number;
}

interface RecordRef {
  /** Position of the record in the whole log, starting at 1 in each process. */
  readonly no: number;
  readonly segment: Segment;
  readonly offset: number;
  /** Framed size in bytes. */
  readonly size: number;
  readonly appendedAt: number;
}

interface AckPosition {
  segment: number;
  offset: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

const HEADER = 8;
const PREFIX = 16; // header + appended-at
const ACK_FILE = 'consumer.json';
const SEGMENT_RE = /^(\d{12})\.seg$/;

function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

function segmentName(id: number): string {
  return `${String(id).padStart(12, '0')}.seg`;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    // Some platforms cannot fsync a directory; the rename is then as durable as they allow.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM') throw err;
  } finally {
    await fh.close();
  }
}

function unavailable(message: string, cause: unknown): SluiceError {
  return new SluiceError('store_unavailable', message, { cause });
}

export class LocalBatchLog implements BatchLog {
  readonly kind = 'local';
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly groupCommitMs: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly onError: LocalBatchLogOptions['onError'];
  private readonly encoder = new BatchEncoder();

  private segments: Segment[] = [];
  /** Unacknowledged records in order; `head` is the next to deliver. */
  private queue: RecordRef[] = [];
  private head = 0;
  private backlogBytes = 0;
  private lastNo = 0;
  private durableNo = 0;
  private ackNo = 0;
  private persistedNo = 0;
  private ack: AckPosition = { segment: 0, offset: 0 };
  private persistedAck: AckPosition = { segment: 0, offset: 0 };

  private dirty = new Set<Segment>();
  private dirDirty = false;
  private syncWaiters: Waiter[] = [];
  /** Cancels the scheduled group fsync. */
  private syncTimer: (() => void) | null = null;
  private syncing: Promise<void> | null = null;
  private failure: unknown = null;
  private persisting: Promise<void> | null = null;
  private drainWaiters: { target: number; waiter: Waiter }[] = [];

  private consumer: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private wakeConsumer: (() => void) | null = null;
  private interruptPause: (() => void) | null = null;
  private state: 'new' | 'open' | 'closing' | 'closed' = 'new';

  constructor(opts: LocalBatchLogOptions) {
    this.dir = opts.dir;
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.groupCommitMs = opts.groupCommitMs ?? 2;
    this.retryInitialMs = opts.retryInitialMs ?? 50;
    this.retryMaxMs = opts.retryMaxMs ?? 5000;
    this.onError = opts.onError;
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
    await fs.promises.rm(path.join(this.dir, `${ACK_FILE}.tmp`), { force: true });
    this.ack = await this.readAck();
    this.persistedAck = { ...this.ack };
    const ids = (await fs.promises.readdir(this.dir))
      .map((f) => SEGMENT_RE.exec(f))
      .filter((m) => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const [i, id] of ids.entries()) {
      const file = path.join(this.dir, segmentName(id));
      const fd = fs.openSync(file, 'r+');
      const seg: Segment = { id, file, fd, size: fs.fstatSync(fd).size };
      this.segments.push(seg);
      if (id < this.ack.segment) continue;
      const start = id === this.ack.segment ? Math.min(this.ack.offset, seg.size) : 0;
      this.scanSegment(seg, start, i === ids.length - 1);
    }
    this.durableNo = this.lastNo;
    this.deleteAckedSegments();
    if (this.segments.length === 0) this.createSegment();
  }

  /** Indexes a segment's records; in the tail, verifies each and cuts a torn or corrupt end. */
  private scanSegment(seg: Segment, start: number, isTail: boolean): void {
    const header = Buffer.alloc(PREFIX);
    let pos = start;
    while (pos < seg.size) {
      if (!this.intactAt(seg, pos, header, isTail)) {
        if (!isTail) throw new SluiceError('internal', `batch log segment ${seg.file} is corrupt at ${pos}`);
        fs.ftruncateSync(seg.fd, pos);
        fs.fsyncSync(seg.fd);
        seg.size = pos;
        break;
      }
      const size = HEADER + header.readUInt32LE(0);
      this.push({ no: ++this.lastNo, segment: seg, offset: pos, size, appendedAt: header.readDoubleLE(8) });
      pos += size;
    }
  }

  /** Whether a whole record starts at `pos` (read into `header`); `verify` also checks its crc. */
  private intactAt(seg: Segment, pos: number, header: Buffer, verify: boolean): boolean {
    if (pos + PREFIX > seg.size || fs.readSync(seg.fd, header, 0, PREFIX, pos) !== PREFIX) return false;
    const len = header.readUInt32LE(0);
    if (len < PREFIX - HEADER || pos + HEADER + len > seg.size) return false;
    if (!verify) return true;
    const payload = Buffer.allocUnsafeSlow(len);
    if (fs.readSync(seg.fd, payload, 0, len, pos + HEADER) !== len) return false;
    return crc32(payload) === header.readUInt32LE(4);
  }

  private async readAck(): Promise<AckPosition> {
    let text: string;
    try {
      text = await fs.promises.readFile(path.join(this.dir, ACK_FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { segment: 0, offset: 0 };
      throw unavailable('cannot read the batch log consumer position', err);
    }
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      // reported below
    }
    const { segment, offset } = (parsed ?? {}) as Partial<AckPosition>;
    if (typeof segment !== 'number' || typeof offset !== 'number' || !Number.isSafeInteger(segment + offset))
      throw new SluiceError('internal', `malformed ${ACK_FILE} in the batch log`);
    return { segment, offset };
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
    const id = Math.max(last, this.ack.segment, this.persistedAck.segment) + 1;
    const file = path.join(this.dir, segmentName(id));
    this.segments.push({ id, file, fd: fs.openSync(file, 'wx+'), size: 0 });
    this.dirDirty = true;
  }

  append(batch: ColumnarBatch): Promise<void> {
    return this.appendRecord(() => this.encoder.encode(batch, PREFIX), null);
  }

  appendEncoded(payload: Uint8Array): Promise<void> {
    return this.appendRecord(() => Buffer.alloc(PREFIX), payload);
  }

  /**
   * Writes one record synchronously so that log order is call order; durability comes from the group
   * fsync. `frame()` gives the record's first bytes with PREFIX bytes reserved for the header; the
   * payload is either inside it (`tail` null) or follows it.
   */
  private appendRecord(frameOf: () => Buffer, tailPayload: Uint8Array | null): Promise<void> {
    if (this.state !== 'open')
      return Promise.reject(new SluiceError('store_unavailable', 'the batch log is not open'));
    if (this.failure !== null)
      return Promise.reject(unavailable('the batch log failed to sync', this.failure));
    let tail = this.tail;
    try {
      if (tail.size >= this.segmentBytes) {
        // The closed segment is made durable before the next exists, so only the tail can be torn.
        fs.fsyncSync(tail.fd);
        this.dirty.delete(tail);
        this.createSegment();
        tail = this.tail;
        this.deleteAckedSegments();
      }
      const appendedAt = Date.now();
      const frame = frameOf();
      frame.writeDoubleLE(appendedAt, HEADER);
      const size = frame.length + (tailPayload?.length ?? 0);
      frame.writeUInt32LE(size - HEADER, 0);
      const crc = tailPayload
        ? crc32(tailPayload, crc32(frame.subarray(HEADER)))
        : crc32(frame.subarray(HEADER));
      frame.writeUInt32LE(crc, 4);
      writeFully(tail.fd, frame, tail.size);
      if (tailPayload) writeFully(tail.fd, tailPayload, tail.size + frame.length);
      this.push({ no: ++this.lastNo, segment: tail, offset: tail.size, size, appendedAt });
      tail.size += size;
      this.dirty.add(tail);
    } catch (err) {
      try {
        fs.ftruncateSync(tail.fd, tail.size); // drop a partial write so the next record follows whole ones
      } catch {
        // the next open truncates the torn tail instead
      }
      return Promise.reject(
        err instanceof SluiceError ? err : unavailable('cannot write to the batch log', err),
      );
    }
    return new Promise((resolve, reject) => {
      this.syncWaiters.push({ resolve, reject });
      this.scheduleSync();
    });
  }

  private scheduleSync(): void {
    if (this.syncing !== null || this.syncTimer !== null || this.syncWaiters.length === 0) return;
    if (this.groupCommitMs > 0) {
      const timer = setTimeout(() => this.startSync(), this.groupCommitMs);
      this.syncTimer = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(() => this.startSync());
      this.syncTimer = () => clearImmediate(immediate);
    }
  }

  private startSync(): void {
    this.syncTimer = null;
    const waiters = this.syncWaiters;
    const target = this.lastNo;
    const segs = [...this.dirty];
    const dir = this.dirDirty;
    this.syncWaiters = [];
    this.dirty.clear();
    this.dirDirty = false;
    this.syncing = (async () => {
      try {
        await Promise.all(segs.map((s) => fsyncAsync(s.fd)));
        if (dir) await fsyncDir(this.dir);
      } catch (err) {
        // After a failed fsync the kernel may have dropped the dirty pages: refuse further appends.
        this.failure = err;
        for (const w of waiters) w.reject(unavailable('the batch log failed to sync', err));
        return;
      }
      this.durableNo = Math.max(this.durableNo, target);
      for (const w of waiters) w.resolve();
      this.wake();
    })().finally(() => {
      this.syncing = null;
      this.scheduleSync();
    });
  }

  /** Waits until every append made so far is durable (or has failed). */
  private async flushSync(): Promise<void> {
    while (this.syncing !== null || this.syncWaiters.length > 0) {
      if (this.syncing === null) {
        this.syncTimer?.();
        this.startSync();
      }
      await this.syncing;
    }
  }

  consume(handler: (batch: ColumnarBatch) => Promise<void>): void {
    this.consumeGroups((batches) => handler(batches[0]!), 1);
  }

  consumeGroups(handler: (batches: ColumnarBatch[]) => Promise<void>, maxBatches: number): void {
    if (this.state !== 'open') throw new SluiceError('internal', 'the batch log is not open');
    if (this.consumer !== null) throw new SluiceError('internal', 'the batch log already has a consumer');
    this.consumer = this.deliver(handler, Math.max(1, maxBatches));
  }

  private async deliver(
    handler: (batches: ColumnarBatch[]) => Promise<void>,
    maxBatches: number,
  ): Promise<void> {
    let backoff = this.retryInitialMs;
    // A group being retried is decoded once.
    let cached: { refs: RecordRef[]; batches: ColumnarBatch[] } | null = null;
    while (this.state === 'open') {
      const refs: RecordRef[] = cached?.refs ?? [];
      if (!cached) {
        for (let i = this.head; i < this.queue.length && refs.length < maxBatches; i++) {
          const ref = this.queue[i]!;
          if (ref.no > this.durableNo) break;
          refs.push(ref);
        }
      }
      if (refs.length === 0) {
        await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
        continue;
      }
      const batches: ColumnarBatch[] = cached?.batches ?? [];
      try {
        while (batches.length < refs.length) {
          batches.push(this.read(refs[batches.length]!));
          // Reading a large group is not one long task: others run between records.
          if (batches.length < refs.length) await new Promise((resolve) => setImmediate(resolve));
        }
        cached = { refs, batches };
        await handler(batches);
      } catch (err) {
        this.report(err, batches[0] ?? null);
        await this.pause(backoff);
        backoff = Math.min(backoff * 2, this.retryMaxMs);
        continue;
      }
      backoff = this.retryInitialMs;
      cached = null;
      for (const ref of refs) this.acknowledge(ref);
    }
  }

  private read(ref: RecordRef): ColumnarBatch {
    // A fresh buffer starts 8-aligned, so the codec can view Float64 columns without copying.
    const buf = Buffer.allocUnsafeSlow(ref.size);
    if (fs.readSync(ref.segment.fd, buf, 0, ref.size, ref.offset) !== ref.size)
      throw new SluiceError('internal', `short read in batch log segment ${ref.segment.file}`);
    if (buf.readUInt32LE(0) !== ref.size - HEADER || crc32(buf.subarray(HEADER)) !== buf.readUInt32LE(4))
      throw new SluiceError('internal', `checksum mismatch in batch log segment ${ref.segment.file}`);
    return decodeBatch(buf.subarray(PREFIX));
  }

  private report(err: unknown, batch: ColumnarBatch | null): void {
    try {
      this.onError?.(err, batch);
    } catch {
      // a failing error hook must not stop delivery
    }
  }

  private pause(ms: number): Promise<void> {
    if (this.state !== 'open') return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms * (0.75 + Math.random() * 0.5));
      this.interruptPause = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private wake(): void {
    const wake = this.wakeConsumer;
    this.wakeConsumer = null;
    wake?.();
  }

  private acknowledge(ref: RecordRef): void {
    this.head++;
    this.backlogBytes -= ref.size;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.ackNo = ref.no;
    this.ack = { segment: ref.segment.id, offset: ref.offset + ref.size };
    this.persistAcks();
  }

  /** Write-behind: acks that arrive while a write is in flight are folded into the next one. */
  private persistAcks(): void {
    if (this.persisting !== null) return;
    this.persisting = (async () => {
      while (this.persistedNo < this.ackNo) {
        const no = this.ackNo;
        const pos = { ...this.ack };
        const tmp = path.join(this.dir, `${ACK_FILE}.tmp`);
        const fh = await fs.promises.open(tmp, 'w');
        try {
          await fh.writeFile(JSON.stringify(pos));
          await fh.sync();
        } finally {
          await fh.close();
        }
        await fs.promises.rename(tmp, path.join(this.dir, ACK_FILE));
        await fsyncDir(this.dir);
        this.persistedNo = no;
        this.persistedAck = pos;
        this.deleteAckedSegments();
        this.settleDrainWaiters();
      }
    })()
      .catch((err: unknown) => this.report(unavailable('cannot persist the batch log position', err), null))
      .finally(() => {
        this.persisting = null;
      });
  }

  /** Deletes closed segments whose records are all acknowledged on disk. */
  private deleteAckedSegments(): void {
    const { segment, offset } = this.persistedAck;
    while (this.segments.length > 1) {
      const seg = this.segments[0]!;
      if (seg.id > segment || (seg.id === segment && offset < seg.size)) break;
      this.segments.shift();
      this.dirty.delete(seg);
      fs.closeSync(seg.fd);
      fs.rmSync(seg.file, { force: true });
    }
  }

  private settleDrainWaiters(): void {
    this.drainWaiters = this.drainWaiters.filter(({ target, waiter }) => {
      if (this.persistedNo < target) return true;
      waiter.resolve();
      return false;
    });
  }

  stats(): BatchLogStats {
    const oldest = this.queue[this.head];
    return {
      backlogBatches: this.queue.length - this.head,
      backlogBytes: this.backlogBytes,
      lagMs: oldest === undefined ? 0 : Math.max(0, Date.now() - oldest.appendedAt),
    };
  }

  drained(): Promise<void> {
    if (this.persistedNo >= this.lastNo && this.head === this.queue.length) return Promise.resolve();
    if (this.state !== 'open')
      return Promise.reject(new SluiceError('store_unavailable', 'the batch log is not open'));
    return new Promise((resolve, reject) =>
      this.drainWaiters.push({ target: this.lastNo, waiter: { resolve, reject } }),
    );
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
    this.wake();
    this.interruptPause?.();
    await this.consumer;
    await this.flushSync();
    while (this.persisting !== null) await this.persisting;
    for (const { waiter } of this.drainWaiters.splice(0))
      waiter.reject(new SluiceError('store_unavailable', 'the batch log closed before draining'));
    for (const seg of this.segments) fs.closeSync(seg.fd);
    this.segments = [];
    this.state = 'closed';
  }
}

function writeFully(fd: number, bytes: Uint8Array, position: number): void {
  let written = 0;
  while (written < bytes.length)
    written += fs.writeSync(fd, bytes, written, bytes.length - written, position + written);
}

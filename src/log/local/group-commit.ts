import type { Segment } from './segment-records.js';
import { fsyncAsync, fsyncDir } from '../../core/file-io.js';
import { unavailable } from './log-errors.js';

export interface GroupCommitOptions {
  /** The log directory, fsynced when a segment was created since the last sync. */
  dir: string;
  /** Appends within this window share one fsync; 0 starts each fsync at once. */
  delayMs: number;
  /** Number of the last record written; read when a sync starts. */
  lastNo: () => number;
  /** Called once every record up to `no` is durable, after that sync's waiters are resolved. */
  onDurable: (no: number) => void;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: each append waits here once its record is written; one fsync of the dirty segments
 * (and of the directory when a segment was created) settles every append written before it started.
 */
export class GroupCommit {
  private readonly dirty = new Set<Segment>();
  private dirDirty = false;
  private waiters: Waiter[] = [];
  /** Cancels the scheduled group fsync. */
  private cancelTimer: (() => void) | null = null;
  private syncing: Promise<void> | null = null;
  private failed: unknown = null;

  constructor(private readonly opts: GroupCommitOptions) {}

  /** The error of a failed fsync, or null; once set, the log must refuse further appends. */
  get failure(): unknown {
    return this.failed;
  }

  markDirty(seg: Segment): void {
    this.dirty.add(seg);
  }

  markDirDirty(): void {
    this.dirDirty = true;
  }

  /** Stops tracking a segment that was synced or closed by its owner. */
  forget(seg: Segment): void {
    this.dirty.delete(seg);
  }

  /** Resolves once the next group fsync succeeds; rejects if it fails. */
  waitDurable(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.schedule();
    });
  }

  /** Waits until every append made so far is durable (or has failed). */
  async flush(): Promise<void> {
    while (this.syncing !== null || this.waiters.length > 0) {
      if (this.syncing === null) {
        this.cancelTimer?.();
        this.start();
      }
      await this.syncing;
    }
  }

  private schedule(): void {
    if (this.syncing !== null || this.cancelTimer !== null || this.waiters.length === 0) return;
    if (this.opts.delayMs > 0) {
      const timer = setTimeout(() => this.start(), this.opts.delayMs);
      this.cancelTimer = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(() => this.start());
      this.cancelTimer = () => clearImmediate(immediate);
    }
  }

  private start(): void {
    this.cancelTimer = null;
    const waiters = this.waiters;
    const target = this.opts.lastNo();
    const segs = [...this.dirty];
    const dir = this.dirDirty;
    this.waiters = [];
    this.dirty.clear();
    this.dirDirty = false;
    this.syncing = (async () => {
      try {
        await Promise.all(segs.map((s) => fsyncAsync(s.fd)));
        if (dir) await fsyncDir(this.opts.dir);
      } catch (err) {
        // After a failed fsync the kernel may have dropped the dirty pages: refuse further appends.
        this.failed = err;
        for (const w of waiters) w.reject(unavailable('the batch log failed to sync', err));
        return;
      }
      for (const w of waiters) w.resolve();
      this.opts.onDurable(target);
    })().finally(() => {
      this.syncing = null;
      this.schedule();
    });
  }
}

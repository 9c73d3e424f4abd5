/** What one turn of processing did, so the scheduler can charge the client and decide what is next. */
export interface SliceResult {
  /** Bytes of the body this turn consumed (charged to the client's deficit). */
  bytes: number;
  /** True when durable bytes remain unprocessed: the upload goes back in line for another turn. */
  more: boolean;
}

/** Processes up to `budget` bytes of an upload, from where it stands. */
export type SliceRunner = (uploadId: string, budget: number) => Promise<SliceResult>;

interface ClientQueue {
  readonly client: string;
  readonly uploads: string[];
  /** Bytes this client may still consume in the current round (deficit round-robin). */
  deficit: number;
}

/**
 * Schedules upload processing across clients by deficit round-robin on bytes. Each upload is processed
 * in turns of at most about `quantum` bytes; after its turn it goes to the back of its client's line.
 * Each visit of a client adds `quantum` to its deficit, and a turn may use the whole deficit, so over
 * time every busy client gets the same bytes per round, whatever the size of its uploads. A client with
 * one small upload waits for at most one turn per worker, not for another client's whole file.
 */
export class FairScheduler {
  /** Clients with queued uploads, in round-robin order; the head is visited next. */
  private readonly round: ClientQueue[] = [];
  private readonly byClient = new Map<string, ClientQueue>();
  /** Upload → client, for every upload queued or running. */
  private readonly owner = new Map<string, string>();
  private readonly running = new Set<string>();
  /** Uploads that got more work while running: queued again when their turn ends. */
  private readonly again = new Set<string>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly quantum: number,
    private readonly run: SliceRunner,
    private readonly onDepth: (depth: number) => void = () => {},
  ) {}

  /** Asks for a turn for this upload (new bytes arrived, or it is new). Repeats are merged. */
  enqueue(uploadId: string, client: string): void {
    if (this.running.has(uploadId)) {
      this.again.add(uploadId);
      return;
    }
    if (this.owner.has(uploadId)) return;
    this.owner.set(uploadId, client);
    this.push(uploadId, client);
    this.pump();
  }

  /** Uploads waiting for a turn (running ones excluded). */
  get depth(): number {
    return this.owner.size - this.running.size;
  }

  /** Resolves when nothing is running or waiting. */
  idle(): Promise<void> {
    if (this.owner.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private push(uploadId: string, client: string): void {
    let q = this.byClient.get(client);
    if (!q) {
      q = { client, uploads: [], deficit: 0 };
      this.byClient.set(client, q);
      this.round.push(q);
    }
    q.uploads.push(uploadId);
    this.onDepth(this.depth);
  }

  private pump(): void {
    while (this.running.size < this.concurrency) {
      const next = this.pick();
      if (!next) return;
      this.start(next.uploadId, next.queue);
    }
  }

  /** The next client in the round with a waiting upload, topped up by one quantum. */
  private pick(): { uploadId: string; queue: ClientQueue } | undefined {
    // Each client is visited at most once per call; dropping idle ones shrinks the round as it goes.
    for (let left = this.round.length; left > 0; left--) {
      const q = this.round.shift()!;
      const uploadId = q.uploads.shift();
      if (uploadId === undefined) {
        // Nothing waiting (its uploads are running): it keeps its place only while it has work.
        if (this.hasWork(q.client)) this.round.push(q);
        else this.byClient.delete(q.client);
        continue;
      }
      q.deficit += this.quantum;
      this.round.push(q);
      return { uploadId, queue: q };
    }
    return undefined;
  }

  private start(uploadId: string, q: ClientQueue): void {
    this.running.add(uploadId);
    this.onDepth(this.depth);
    const budget = q.deficit;
    void this.run(uploadId, budget)
      .then(
        (r) => r,
        (): SliceResult => ({ bytes: 0, more: false }),
      )
      .then((r) => {
        this.running.delete(uploadId);
        q.deficit = Math.max(0, q.deficit - r.bytes);
        const again = this.again.delete(uploadId);
        if (r.more || again) this.push(uploadId, q.client);
        else {
          this.owner.delete(uploadId);
          // A client that has nothing left loses its credit (DRR resets idle queues).
          if (!this.hasWork(q.client)) q.deficit = 0;
        }
        this.pump();
        if (this.owner.size === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const fn of waiters) fn();
        }
      });
  }

  private hasWork(client: string): boolean {
    for (const c of this.owner.values()) if (c === client) return true;
    return false;
  }
}

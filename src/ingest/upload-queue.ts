/**
 * A bounded pool of decode workers fed in arrival order. `run` is called for at most `concurrency`
 * uploads at a time; the rest wait their turn.
 */
export class UploadQueue {
  private readonly waiting: string[] = [];
  private readonly running = new Set<string>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly run: (uploadId: string) => Promise<void>,
    private readonly onDepth: (depth: number) => void = () => {},
  ) {}

  enqueue(uploadId: string): void {
    if (this.running.has(uploadId) || this.waiting.includes(uploadId)) return;
    this.waiting.push(uploadId);
    this.onDepth(this.waiting.length);
    this.pump();
  }

  get depth(): number {
    return this.waiting.length;
  }

  /** Resolves when nothing is running or waiting. */
  idle(): Promise<void> {
    if (this.running.size === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.waiting.length > 0) {
      const id = this.waiting.shift()!;
      this.onDepth(this.waiting.length);
      this.running.add(id);
      void this.run(id).finally(() => {
        this.running.delete(id);
        this.pump();
        if (this.running.size === 0 && this.waiting.length === 0) {
          const w = this.idleWaiters;
          this.idleWaiters = [];
          for (const fn of w) fn();
        }
      });
    }
  }
}

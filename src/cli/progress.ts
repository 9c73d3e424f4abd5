import { Presets, SingleBar } from 'cli-progress';

/** A progress bar for bytes sent: size, rate and ETA, on stderr so stdout stays the report. */
export class ByteProgress {
  private readonly bar: SingleBar;
  private readonly started = Date.now();
  private readonly startBytes: number;
  private current: number;

  constructor(
    private readonly total: number,
    startAt = 0,
  ) {
    this.startBytes = startAt;
    this.current = startAt;
    this.bar = new SingleBar(
      {
        format: ' {bar} {percentage}% | {done}/{size} MB | {rate} MB/s | ETA {eta_formatted}',
        hideCursor: true,
        etaBuffer: 50,
        stream: process.stderr,
      },
      Presets.shades_classic,
    );
    this.bar.start(total, startAt, { done: mb(startAt), size: mb(total), rate: '0.0' });
  }

  update(sent: number): void {
    this.current = sent;
    const secs = Math.max(0.001, (Date.now() - this.started) / 1000);
    this.bar.update(sent, {
      done: mb(sent),
      size: mb(this.total),
      rate: ((sent - this.startBytes) / 1e6 / secs).toFixed(1),
    });
  }

  /** Prints a line (a retry, say) and carries on drawing below it. */
  note(text: string): void {
    this.bar.stop();
    process.stderr.write(`${text}\n`);
    this.bar.start(this.total, this.current);
    this.update(this.current);
  }

  stop(): void {
    this.bar.stop();
  }
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

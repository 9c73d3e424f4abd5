import fs from 'node:fs';

/** A `/proc/<pid>/status` field in MiB (Linux only), or NaN when the process or field is gone. */
export function procStatusMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Polls VmRSS every 100 ms and keeps the maximum. VmHWM alone would do on Linux, but it is lost once
 * the process exits, and polling also works when the peak is read after a crash.
 */
export class RssSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 100,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const mb = procStatusMb(this.pid, 'VmRSS');
    if (mb > this.peak) this.peak = mb;
  }

  /** Peak resident set in MiB: the larger of the polled maximum and the kernel's high-water mark. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    const hwm = procStatusMb(this.pid, 'VmHWM');
    return Math.max(this.peak, Number.isFinite(hwm) ? hwm : 0);
  }
}

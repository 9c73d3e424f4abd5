import fs from 'node:fs';

/** Linux reports utime and stime in clock ticks of 1/100 s (USER_HZ) on every common build. */
const CLOCK_TICKS_PER_S = 100;

/**
 * CPU time (user + system, ms) of a process, or of one of its threads when `tid` is given, read from
 * /proc (Linux only); null elsewhere or once the process is gone. The main thread of a Node process has
 * `tid = pid`, so its figure leaves out worker threads and libuv's pool, unlike `process.cpuUsage()`.
 */
export function procCpuMs(pid: number, tid?: number): number | null {
  try {
    const file = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
    const stat = fs.readFileSync(file, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
  } catch {
    return null;
  }
}

/** Values of a column looked at before deciding whether it repeats enough to intern. */
const SAMPLE = 256;

/**
 * Shares one string per distinct key value across decoded batches. A decoded value is a new string
 * that lives as long as its batch (through the log, the store and the statistics fold: up to a
 * second or more), so the young generation copies it before promoting it, and for a request log
 * (three key columns, 20,000 rows a batch) that copying made the event loop's scavenges long. Key
 * columns repeat few values: looking each one up returns a string that is already old, and the
 * fresh one dies at once, which a scavenge does not copy. A column that does not repeat (ids used
 * as keys) is left as it is, judged on its first values.
 */
export class KeyInterner {
  private readonly strings = new Map<string, string>();

  constructor(private readonly maxStrings = 65_536) {}

  /** Replaces the column's values with shared equal strings, when the column repeats its values. */
  internInPlace(values: string[]): void {
    const strings = this.strings;
    let hits = 0;
    let prev = '';
    let prevShared = '';
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (i === SAMPLE && hits * 2 < SAMPLE) return;
      if (v === prev) {
        values[i] = prevShared;
        hits++;
        continue;
      }
      let shared = strings.get(v);
      if (shared === undefined) {
        if (strings.size >= this.maxStrings) strings.clear();
        strings.set(v, v);
        shared = v;
      } else hits++;
      values[i] = shared;
      prev = v;
      prevShared = shared;
    }
  }
}

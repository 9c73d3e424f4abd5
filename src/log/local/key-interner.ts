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
  /**
   * Shared ASCII values by a hash of their bytes, in an open-addressing table (a JavaScript Map of
   * numbers cost more than the rest of a lookup); a hit is checked byte by byte before it is used.
   */
  private readonly asciiHashes: Int32Array;
  private readonly asciiValues: (string | undefined)[];
  private asciiCount = 0;

  constructor(private readonly maxStrings = 65_536) {
    // At most half full, so probe runs stay short.
    let slots = 2;
    while (slots < maxStrings * 2) slots *= 2;
    this.asciiHashes = new Int32Array(slots);
    this.asciiValues = new Array<string | undefined>(slots).fill(undefined);
  }

  /** Replaces the column's values with shared equal strings, when the column repeats its values. */
  internInPlace(values: string[]): void {
    const strings = this.strings;
    let hits = 0;
    let prev = '';
    let prevShared = '';
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (repeatsTooLittle(i, hits)) return;
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

  /**
   * The column of `count` ASCII values stored back to back in `bytes` from `at` (`lengths` each),
   * with values seen before shared without decoding them again: decoding every value and then
   * dropping it for the shared one made the largest part of what the event loop allocates during an
   * ingest. A column that does not repeat is decoded as it is, judged on its first values.
   */
  fromAscii(bytes: Buffer, at: number, lengths: Int32Array, count: number): string[] {
    const hashes = this.asciiHashes;
    const values = this.asciiValues;
    const mask = hashes.length - 1;
    const out = new Array<string>(count);
    let hits = 0;
    let p = at;
    for (let i = 0; i < count; i++) {
      const len = lengths[i]!;
      if (repeatsTooLittle(i, hits)) {
        for (; i < count; p += lengths[i++]!) out[i] = bytes.toString('latin1', p, p + lengths[i]!);
        return out;
      }
      // FNV-1a over the value's bytes.
      let h = 0x811c9dc5;
      for (let k = p; k < p + len; k++) h = Math.imul(h ^ bytes[k]!, 0x01000193);
      // The slot holding this hash, or the empty one where it goes.
      let slot = h & mask;
      let shared = values[slot];
      while (shared !== undefined && hashes[slot] !== h) {
        slot = (slot + 1) & mask;
        shared = values[slot];
      }
      if (shared !== undefined && sameAscii(shared, bytes, p, len)) hits++;
      else {
        // New, or another value with the same hash, which then takes the slot.
        shared = bytes.toString('latin1', p, p + len);
        if (values[slot] === undefined) {
          if (this.asciiCount >= this.maxStrings) {
            values.fill(undefined);
            this.asciiCount = 0;
          }
          this.asciiCount++;
        }
        hashes[slot] = h;
        values[slot] = shared;
      }
      out[i] = shared;
      p += len;
    }
    return out;
  }
}

/** After SAMPLE values, fewer than half of them repeats: the column is not worth sharing. */
function repeatsTooLittle(seen: number, hits: number): boolean {
  return seen === SAMPLE && hits * 2 < SAMPLE;
}

function sameAscii(s: string, bytes: Buffer, at: number, len: number): boolean {
  if (s.length !== len) return false;
  for (let k = 0; k < len; k++) if (s.charCodeAt(k) !== bytes[at + k]) return false;
  return true;
}

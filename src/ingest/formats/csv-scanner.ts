import { isUtf8 } from 'node:buffer';
import { SluiceError } from '../../core/errors.js';
import { parseDecimalText, type RowCells } from '../row-validator.js';
import { parseTimeBytesFast } from '../time-parse.js';

/**
 * A byte-level RFC 4180 row scanner. It finds where a row ends and where each cell starts and ends,
 * recording positions in reused typed arrays, and decodes a cell to a string only when asked. One
 * scanner is reused for every row, so scanning allocates nothing per row.
 *
 * Leniency beyond RFC 4180, chosen so that no input makes it throw: a quote inside an unquoted cell is
 * literal, and text after a closing quote (`"ab"c`) is kept after the unquoted content.
 */

const LF = 10;
const CR = 13;
const QUOTE = 34;

const S_START = 0; // at the start of a cell
const S_UNQUOTED = 1;
const S_QUOTED = 2;
const S_QUOTE_SEEN = 3; // a quote inside a quoted cell: the close, or the first half of `""`

const FLAG_PLAIN = 0;
const FLAG_COMPLEX = 1; // escaped quotes or text after the closing quote: decoded on the slow path

/** Buffer's unchecked slicers are faster than toString(encoding, start, end) but missing from the types. */
interface FastSlices {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

const EMPTY = Buffer.alloc(0);
const RAW_MAX_CHARS = 4096;

export class CsvScanner implements RowCells {
  readonly delimiter: number;

  /** The buffer and absolute start of the row last scanned. */
  private buf: Buffer = EMPTY;
  private rowStart = 0;
  /** Absolute end of the row's content (before CR LF) once the row is complete. */
  rowEnd = 0;
  cellCount = 0;
  /** LF bytes inside quoted cells of the row (a row spans newlines + 1 lines). */
  newlines = 0;
  /** Whether the scan stopped inside a quoted cell (meaningful after a scan that found no row end). */
  inQuote = false;
  /** A byte >= 0x80 or NUL occurred: the row needs the UTF-8 check and the UTF-8 decoder. */
  special = false;

  // Cell bounds relative to rowStart, so a partly scanned row survives being moved to another buffer.
  private starts = new Int32Array(16);
  private ends = new Int32Array(16);
  private flags = new Uint8Array(16);

  // Resumable scan state, relative to rowStart.
  private state = S_START;
  private cellStart = 0;
  private cellQuoted = false;
  private cellEscaped = false;
  private lastClose = -1;

  constructor(delimiter: string) {
    const code = delimiter.charCodeAt(0);
    if (delimiter.length !== 1 || code >= 0x80 || code === QUOTE || code === LF || code === CR) {
      throw new SluiceError(
        'validation_failed',
        'the CSV delimiter must be one ASCII character other than a quote or newline',
      );
    }
    this.delimiter = code;
  }

  /**
   * Scans the row that starts at `start`, from `from` (equal to `start` for a new row; larger to resume
   * a row whose first bytes were scanned before and now sit at `start` in a new buffer) up to `limit`.
   * Returns the index of the row's terminating LF, or -1 when the row does not end before `limit`.
   */
  scan(buf: Buffer, start: number, from: number, limit: number): number {
    this.buf = buf;
    this.rowStart = start;
    if (from <= start) {
      from = start;
      this.cellCount = 0;
      this.newlines = 0;
      this.special = false;
      this.state = S_START;
      this.cellStart = 0;
      this.cellQuoted = false;
      this.cellEscaped = false;
      this.lastClose = -1;
    }
    const delim = this.delimiter;
    let state = this.state;
    let special = this.special;
    let newlines = this.newlines;
    for (let i = from; i < limit; i++) {
      const b = buf[i]!;
      if (state === S_QUOTED) {
        if (b === QUOTE) {
          state = S_QUOTE_SEEN;
          this.lastClose = i - start;
        } else if (b === LF) newlines++;
        else if (b >= 0x80 || b === 0) special = true;
        continue;
      }
      if (b === delim) {
        this.closeCell(i - start);
        this.cellStart = i + 1 - start;
        this.cellQuoted = false;
        this.cellEscaped = false;
        state = S_START;
        continue;
      }
      if (b === LF) {
        const end = i > start && buf[i - 1] === CR && i - 1 - start >= this.cellStart ? i - 1 : i;
        this.closeCell(end - start);
        this.rowEnd = end;
        this.state = state;
        this.special = special;
        this.newlines = newlines;
        this.inQuote = false;
        return i;
      }
      if (b >= 0x80 || b === 0) special = true;
      if (state === S_START) {
        if (b === QUOTE) {
          state = S_QUOTED;
          this.cellQuoted = true;
        } else state = S_UNQUOTED;
      } else if (state === S_QUOTE_SEEN) {
        if (b === QUOTE) {
          state = S_QUOTED;
          this.cellEscaped = true;
        } else state = S_UNQUOTED;
      }
    }
    this.state = state;
    this.special = special;
    this.newlines = newlines;
    this.inQuote = state === S_QUOTED;
    return -1;
  }

  /** Completes the row at end of input (no final LF). Call after a scan up to `end` returned -1. */
  finishAtEof(end: number): void {
    const buf = this.buf;
    const e =
      end > this.rowStart && buf[end - 1] === CR && end - 1 - this.rowStart >= this.cellStart ? end - 1 : end;
    this.closeCell(e - this.rowStart);
    this.rowEnd = e;
  }

  private closeCell(endRel: number): void {
    const i = this.cellCount;
    if (i === this.starts.length) this.grow();
    if (!this.cellQuoted) {
      this.starts[i] = this.cellStart;
      this.ends[i] = endRel;
      this.flags[i] = FLAG_PLAIN;
    } else if (!this.cellEscaped && this.lastClose === endRel - 1 && this.lastClose > this.cellStart) {
      this.starts[i] = this.cellStart + 1;
      this.ends[i] = endRel - 1;
      this.flags[i] = FLAG_PLAIN;
    } else {
      this.starts[i] = this.cellStart;
      this.ends[i] = endRel;
      this.flags[i] = FLAG_COMPLEX;
    }
    this.cellCount = i + 1;
  }

  private grow(): void {
    const n = this.starts.length * 2;
    const starts = new Int32Array(n);
    const ends = new Int32Array(n);
    const flags = new Uint8Array(n);
    starts.set(this.starts);
    ends.set(this.ends);
    flags.set(this.flags);
    this.starts = starts;
    this.ends = ends;
    this.flags = flags;
  }

  /** Whether the row's content is empty (a blank line, skipped rather than rejected). */
  isBlankLine(): boolean {
    return this.rowEnd === this.rowStart;
  }

  cellIsEmpty(i: number): boolean {
    return this.ends[i] === this.starts[i];
  }

  cellText(i: number): string {
    const s = this.rowStart + this.starts[i]!;
    const e = this.rowStart + this.ends[i]!;
    if (this.flags[i] === FLAG_COMPLEX) return decodeQuotedCell(this.buf.toString('utf8', s, e));
    const fast = this.buf as unknown as FastSlices;
    return this.special ? fast.utf8Slice(s, e) : fast.latin1Slice(s, e);
  }

  /** Parses a decimal number straight from the bytes; NaN when the cell is not a decimal number. */
  cellNumber(i: number): number {
    if (this.flags[i] === FLAG_COMPLEX) return parseDecimalText(this.cellText(i));
    const buf = this.buf;
    const s = this.rowStart + this.starts[i]!;
    const e = this.rowStart + this.ends[i]!;
    let j = s;
    let negative = false;
    const c0 = buf[j];
    if (c0 === 45 || c0 === 43) {
      negative = c0 === 45;
      j++;
    }
    let mantissa = 0;
    let digits = 0;
    let scale = 0;
    while (j < e) {
      const d = buf[j]! - 48;
      if (d < 0 || d > 9) break;
      mantissa = mantissa * 10 + d;
      digits++;
      j++;
    }
    if (j < e && buf[j] === 46) {
      j++;
      while (j < e) {
        const d = buf[j]! - 48;
        if (d < 0 || d > 9) break;
        mantissa = mantissa * 10 + d;
        digits++;
        scale++;
        j++;
      }
    }
    // Fast path only where mantissa / 10^scale is exactly what Number() returns: at most 15 digits
    // (exact integer) and an exactly representable power of ten. Everything else takes the slow path.
    if (j !== e || digits === 0 || digits > 15 || scale > 22) return parseDecimalText(this.cellText(i));
    const v = scale === 0 ? mantissa : mantissa / POW10[scale]!;
    return negative ? -v : v;
  }

  cellTimeUs(i: number): number | undefined {
    if (this.flags[i] === FLAG_COMPLEX) return undefined;
    return parseTimeBytesFast(this.buf, this.rowStart + this.starts[i]!, this.rowStart + this.ends[i]!);
  }

  /** Whether the row is valid UTF-8 text without NUL bytes. */
  rowIsText(): boolean {
    if (!this.special) return true;
    const row = this.buf.subarray(this.rowStart, this.rowEnd);
    return row.indexOf(0) < 0 && isUtf8(row);
  }

  rawText(): string {
    return rawRowText(this.buf, this.rowStart, this.rowEnd);
  }

  /** All cells as strings (for the header row). */
  allCells(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.cellCount; i++) out.push(this.cellText(i));
    return out;
  }
}

const POW10: readonly number[] = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** Row text for a reject: at most 4096 characters, NUL shown as U+FFFD. */
export function rawRowText(buf: Buffer, start: number, end: number): string {
  const text = buf.toString('utf8', start, Math.min(end, start + RAW_MAX_CHARS * 3));
  const cut = text.length > RAW_MAX_CHARS ? text.slice(0, RAW_MAX_CHARS) : text;
  return cut.includes('\0') ? cut.replaceAll('\0', '\uFFFD') : cut;
}

/** Slow path for a quoted cell with `""` escapes or text after its closing quote. */
function decodeQuotedCell(raw: string): string {
  let out = '';
  let i = 1;
  const n = raw.length;
  while (i < n) {
    const q = raw.indexOf('"', i);
    if (q < 0) return out + raw.slice(i);
    out += raw.slice(i, q);
    if (raw.charCodeAt(q + 1) === QUOTE) {
      out += '"';
      i = q + 2;
    } else {
      return out + raw.slice(q + 1);
    }
  }
  return out;
}

import { isUtf8 } from 'node:buffer';
import type { RejectReason } from '../../core/errors.js';

/**
 * NDJSON framing and line parsing. JSON text cannot hold a raw newline, so every LF ends a line and
 * finding it is a native `indexOf`. The line is then decoded and parsed by `JSON.parse`, which
 * allocates per row anyway; this format is not the zero-allocation path.
 */

const LF = 10;
const CR = 13;

export type NdjsonLine =
  | { readonly ok: true; readonly value: Record<string, unknown>; readonly text: string }
  | { readonly ok: false; readonly reason: RejectReason; readonly text: string };

export class NdjsonScanner {
  rowEnd = 0;
  /** NDJSON lines never span newlines; kept for the shared framing. */
  readonly newlines = 0;
  readonly inQuote = false;
  private buf: Buffer = Buffer.alloc(0);
  private rowStart = 0;

  /** Returns the index of the LF ending the line that starts at `start`, or -1 before `limit`. */
  scan(buf: Buffer, start: number, from: number, limit: number): number {
    this.buf = buf;
    this.rowStart = start;
    const lf = buf.indexOf(LF, Math.max(from, start));
    if (lf < 0 || lf >= limit) return -1;
    this.rowEnd = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
    return lf;
  }

  finishAtEof(end: number): void {
    this.rowEnd = end > this.rowStart && this.buf[end - 1] === CR ? end - 1 : end;
  }

  /** Whether the line is empty or only whitespace: skipped, not a row. */
  isBlankLine(): boolean {
    for (let i = this.rowStart; i < this.rowEnd; i++) {
      const b = this.buf[i];
      if (b !== 32 && b !== 9 && b !== CR) return false;
    }
    return true;
  }

  /** Decodes and parses the current (non-blank) line. */
  parseLine(): NdjsonLine {
    const text = this.buf.toString('utf8', this.rowStart, this.rowEnd);
    // U+FFFD may be real text, so it only triggers the exact check; NUL is never valid in a line.
    if (
      text.includes('\0') ||
      (text.includes('\uFFFD') && !isUtf8(this.buf.subarray(this.rowStart, this.rowEnd)))
    ) {
      return { ok: false, reason: 'bad_encoding', text: text.replaceAll('\0', '\uFFFD') };
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { ok: false, reason: 'bad_json', text };
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return { ok: false, reason: 'not_an_object', text };
    }
    return { ok: true, value: value as Record<string, unknown>, text };
  }
}

import type { ColumnarBatch, SourcePosition } from '../core/batch.js';
import type { DatasetLayout } from '../core/dataset.js';
import { SluiceError, type RejectReason } from '../core/errors.js';
import { BatchBuilder } from './batch-builder.js';
import { CsvScanner, rawRowText } from './formats/csv-scanner.js';
import { NdjsonScanner } from './formats/ndjson-scanner.js';
import { RowValidator, truncateRaw } from './row-validator.js';

/**
 * Turns the bytes of an upload into columnar batches plus rejects.
 *
 * Determinism is the contract: batch boundaries, ids and contents depend only on the bytes and the
 * start position, never on how the bytes were chunked. Every decision (row end, line too long,
 * unterminated quote) is made on a window defined relative to the row's first byte, and taken only once
 * that whole window is available. Memory stays bounded by one chunk plus one row of at most
 * `maxLineBytes`: longer rows are rejected and skipped to the next newline without being buffered.
 */

export const DEFAULT_MAX_LINE_BYTES = 1 << 20;

export interface DecoderOptions {
  layout: DatasetLayout;
  /** Upload id; batch ids are `${source}:${seq}`. */
  source: string;
  format: 'csv' | 'ndjson';
  /** Rows per batch, valid and rejected together. */
  batchRows: number;
  /** Longer lines become `line_too_long` rejects (see DEFAULT_MAX_LINE_BYTES). */
  maxLineBytes: number;
  /** Reference time for window checks: the upload's creation time, so replays are deterministic. */
  nowMs: number;
  /** Where to resume; {offset: 0, line: 0} for a fresh file. */
  start: SourcePosition;
  /** Sequence number of the first batch emitted. */
  startSeq: number;
  /** When resuming a CSV with a header (or `auto`): the text of line 1. */
  headerLine?: string;
}

/** What the shared framing needs from a format's scanner. */
interface RowFramer {
  readonly rowEnd: number;
  readonly newlines: number;
  readonly inQuote: boolean;
  scan(buf: Buffer, start: number, from: number, limit: number): number;
  finishAtEof(end: number): void;
  isBlankLine(): boolean;
}

const LF = 10;

export class UploadDecoder {
  private readonly opts: DecoderOptions;
  private readonly framer: RowFramer;
  private readonly csv: CsvScanner | null;
  private readonly ndjson: NdjsonScanner | null;
  private readonly validator: RowValidator;
  private readonly builder: BatchBuilder;

  /** Declared column index -> CSV cell index (-1 when the header lacks the column). */
  private cellOf: Int32Array;
  private expectedCells: number;
  private headerPending: boolean;
  private bomPending: boolean;

  /** Bytes of an unfinished row, carried to the next push; pending[0] sits at file offset `offset`. */
  private pending = Buffer.alloc(0);
  private pendingLen = 0;
  /** How many bytes of the pending row the scanner has already seen (its state is kept). */
  private scannedTo = 0;

  private offset: number;
  private line: number;
  private seq: number;
  private rowsInBatch = 0;
  /** Position right after the last row (numbers, not an object, since this is set per row). */
  private lastRowOffset: number;
  private lastRowLine: number;
  /** Inside a rejected overlong row: discarding bytes up to the next LF. */
  private skipping = false;
  private ended = false;

  constructor(opts: DecoderOptions) {
    if (!Number.isInteger(opts.batchRows) || opts.batchRows < 1) {
      throw new SluiceError('internal', `batchRows must be a positive integer, got ${opts.batchRows}`);
    }
    if (!Number.isInteger(opts.maxLineBytes) || opts.maxLineBytes < 1) {
      throw new SluiceError('internal', `maxLineBytes must be a positive integer, got ${opts.maxLineBytes}`);
    }
    this.opts = opts;
    const spec = opts.layout.spec;
    this.validator = new RowValidator(opts.layout, opts.nowMs);
    this.builder = new BatchBuilder(opts.layout, opts.batchRows);
    this.offset = opts.start.offset;
    this.line = opts.start.line;
    this.seq = opts.startSeq;
    this.lastRowOffset = opts.start.offset;
    this.lastRowLine = opts.start.line;
    this.bomPending = opts.start.offset === 0;
    const declared = spec.columns.length;
    this.cellOf = Int32Array.from({ length: declared }, (_, i) => i);
    this.expectedCells = declared;
    this.headerPending = false;
    if (opts.format === 'csv') {
      this.csv = new CsvScanner(spec.csv.delimiter);
      this.ndjson = null;
      this.framer = this.csv;
      if (spec.csv.header !== 'false') {
        if (opts.start.offset === 0) this.headerPending = true;
        else if (opts.headerLine === undefined) {
          throw new SluiceError(
            'internal',
            'resuming a CSV upload whose header may be on line 1 needs headerLine',
          );
        } else this.applyHeader(headerCells(opts.headerLine, spec.csv.delimiter));
      }
    } else {
      this.csv = null;
      this.ndjson = new NdjsonScanner();
      this.framer = this.ndjson;
    }
  }

  /** Feeds the next bytes (contiguous from the start position); returns the batches they complete. */
  push(chunk: Buffer): ColumnarBatch[] {
    if (this.ended) throw new SluiceError('internal', 'push() after end()');
    const out: ColumnarBatch[] = [];
    let data = chunk;
    if (this.skipping) {
      const nl = data.indexOf(LF);
      if (nl < 0) {
        this.offset += data.length;
        return out;
      }
      this.offset += nl + 1;
      this.line += 1;
      this.skipping = false;
      this.rowDone(out);
      data = data.subarray(nl + 1);
    }
    if (data.length === 0) return out;
    if (this.pendingLen === 0) {
      const used = this.frame(data, 0, false, out);
      this.keep(data, used);
    } else {
      this.append(data);
      const buf = this.pending.subarray(0, this.pendingLen);
      const used = this.frame(buf, this.scannedTo, false, out);
      this.keep(buf, used);
    }
    return out;
  }

  /** End of input: returns the final (possibly short) batch, if any rows remain. */
  end(): ColumnarBatch[] {
    if (this.ended) return [];
    this.ended = true;
    const out: ColumnarBatch[] = [];
    if (this.pendingLen > 0) {
      this.frame(this.pending.subarray(0, this.pendingLen), this.scannedTo, true, out);
      this.pendingLen = 0;
    }
    if (this.skipping) {
      // The overlong row runs to the end of the file, whose last line has no LF.
      this.skipping = false;
      this.line += 1;
      this.rowDone(out);
    }
    if (this.rowsInBatch > 0) this.closeBatch(out);
    return out;
  }

  /** Moves the unconsumed tail of `buf` (from `used`) to the front of the pending buffer. */
  private keep(buf: Buffer, used: number): void {
    const rest = buf.length - used;
    if (rest === 0) {
      this.pendingLen = 0;
      return;
    }
    if (buf.buffer === this.pending.buffer && buf.byteOffset === this.pending.byteOffset) {
      this.pending.copyWithin(0, used, buf.length);
    } else {
      this.reserve(rest);
      buf.copy(this.pending, 0, used);
    }
    this.pendingLen = rest;
  }

  private append(data: Buffer): void {
    this.reserve(this.pendingLen + data.length);
    data.copy(this.pending, this.pendingLen);
    this.pendingLen += data.length;
  }

  private reserve(size: number): void {
    if (size <= this.pending.length) return;
    const next = Buffer.allocUnsafe(Math.max(size, this.pending.length * 2, 64 * 1024));
    this.pending.copy(next, 0, 0, this.pendingLen);
    this.pending = next;
  }

  /**
   * Consumes the complete rows of `buf` (buf[0] is at file offset `offset`); returns how many bytes it
   * consumed. The first row resumes a scan that had reached `resumeFrom`.
   */
  private frame(buf: Buffer, resumeFrom: number, final: boolean, out: ColumnarBatch[]): number {
    const base = this.offset;
    const max = this.opts.maxLineBytes;
    const framer = this.framer;
    let pos = 0;
    let from = resumeFrom;
    if (this.bomPending) {
      if (buf.length < 3 && !final && isBomPrefix(buf)) {
        this.scannedTo = 0;
        return 0;
      }
      this.bomPending = false;
      if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
        pos = 3;
        from = -1;
        this.offset = base + 3;
      }
    }
    while (pos < buf.length) {
      const windowEnd = Math.min(buf.length, pos + max + 2);
      const lf = framer.scan(buf, pos, from, windowEnd);
      from = -1;
      if (lf >= 0) {
        this.finishRow(buf, pos, 1 + framer.newlines, base + lf + 1, null, out);
        pos = lf + 1;
        continue;
      }
      if (windowEnd - pos < max + 2) {
        if (!final) {
          this.scannedTo = buf.length - pos;
          return pos;
        }
        framer.finishAtEof(buf.length);
        const lines = framer.newlines + (buf[buf.length - 1] === LF ? 0 : 1);
        const reason = framer.inQuote ? 'unterminated_quote' : null;
        this.finishRow(buf, pos, lines, base + buf.length, reason, out);
        pos = buf.length;
        break;
      }
      // The window is full and the row has not ended: reject it and skip to the next LF.
      this.headerPending = false;
      const reason = framer.inQuote ? 'unterminated_quote' : 'line_too_long';
      this.builder.reject(this.line + 1, reason, null, rawRowText(buf, pos, windowEnd));
      this.line += framer.newlines;
      const nl = buf.indexOf(LF, windowEnd);
      if (nl < 0) {
        this.skipping = true;
        this.offset = base + buf.length;
        pos = buf.length;
        break;
      }
      this.line += 1;
      this.offset = base + nl + 1;
      this.rowDone(out);
      pos = nl + 1;
    }
    this.scannedTo = 0;
    return pos;
  }

  /** Handles one framed row starting at `start`, spanning `lines` lines and ending at `nextOffset`. */
  private finishRow(
    buf: Buffer,
    start: number,
    lines: number,
    nextOffset: number,
    forced: RejectReason | null,
    out: ColumnarBatch[],
  ): void {
    const line = this.line + 1;
    this.line += lines;
    this.offset = nextOffset;
    const contentEnd = this.framer.rowEnd;
    if (forced !== null || contentEnd - start > this.opts.maxLineBytes) {
      this.headerPending = false;
      this.builder.reject(line, forced ?? 'line_too_long', null, rawRowText(buf, start, contentEnd));
      this.rowDone(out);
      return;
    }
    if (this.framer.isBlankLine()) return;
    const csv = this.csv;
    if (csv !== null) {
      if (this.headerPending) {
        this.headerPending = false;
        if (this.applyHeader(csv.allCells())) return;
      }
      this.validator.csvRow(csv, this.cellOf, this.expectedCells, line, this.builder);
    } else {
      const parsed = this.ndjson!.parseLine();
      if (parsed.ok) this.validator.jsonRow(parsed.value, parsed.text, line, this.builder);
      else this.builder.reject(line, parsed.reason, null, truncateRaw(parsed.text));
    }
    this.rowDone(out);
  }

  /**
   * Maps columns by header names (case-insensitive, any order, extra columns ignored). With `auto`,
   * the row is a header only when every cell names a declared column. Returns whether it was a header.
   */
  private applyHeader(cells: string[]): boolean {
    const spec = this.opts.layout.spec;
    const names = cells.map((c) => c.trim().toLowerCase());
    const declared = spec.columns.map((c) => c.name.toLowerCase());
    if (spec.csv.header === 'auto' && !names.every((n) => declared.includes(n))) return false;
    this.cellOf = Int32Array.from(declared, (d) => names.indexOf(d));
    this.expectedCells = cells.length;
    return true;
  }

  private rowDone(out: ColumnarBatch[]): void {
    this.lastRowOffset = this.offset;
    this.lastRowLine = this.line;
    this.rowsInBatch++;
    if (this.rowsInBatch === this.opts.batchRows) this.closeBatch(out);
  }

  private closeBatch(out: ColumnarBatch[]): void {
    out.push(
      this.builder.finish({
        source: this.opts.source,
        seq: this.seq++,
        totalRows: this.rowsInBatch,
        end: { offset: this.lastRowOffset, line: this.lastRowLine },
      }),
    );
    this.rowsInBatch = 0;
  }
}

function isBomPrefix(buf: Buffer): boolean {
  const bom = [0xef, 0xbb, 0xbf];
  for (let i = 0; i < buf.length; i++) if (buf[i] !== bom[i]) return false;
  return true;
}

/** Splits a header line given as text (when resuming) with the same scanner rules as the data. */
function headerCells(headerLine: string, delimiter: string): string[] {
  const text = headerLine.charCodeAt(0) === 0xfeff ? headerLine.slice(1) : headerLine;
  const buf = Buffer.from(text.replace(/\r?\n$/, ''), 'utf8');
  const scanner = new CsvScanner(delimiter);
  const lf = scanner.scan(buf, 0, 0, buf.length);
  if (lf < 0) scanner.finishAtEof(buf.length);
  return scanner.allCells();
}

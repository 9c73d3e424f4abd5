import type { ColumnarBatch, Reject } from '../../core/batch.js';
import { ByteCursor } from '../../core/byte-cursor.js';
import { REJECT_REASONS, SluiceError, type RejectReason } from '../../core/errors.js';
import { MAGIC, NULL_COUNT, VERSION } from './batch-codec.js';
import { KeyInterner } from './key-interner.js';

/** Decoding of the encoding described in batch-codec.ts. */

const REJECT_REASON_SET: ReadonlySet<string> = new Set(Object.keys(REJECT_REASONS));

function corrupt(what: string): SluiceError {
  return new SluiceError('internal', `corrupt batch encoding: ${what}`);
}

class ByteReader extends ByteCursor {
  constructor(bytes: Uint8Array) {
    super(bytes, () => corrupt('truncated'));
  }

  private align(to: number): void {
    this.pos += (to - (this.pos % to)) % to;
  }

  private utf8(n: number, units: number): string {
    this.need(n);
    // Byte count equal to UTF-16 unit count means pure ASCII, where latin1 decoding is identical and faster.
    const s = this.buf.toString(n === units ? 'latin1' : 'utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  text(): string {
    return this.utf8(this.u32(), -1);
  }

  nullableText(): string | null {
    const n = this.i32();
    return n === NULL_COUNT ? null : this.utf8(n, -1);
  }

  floats(): Float64Array | null {
    const count = this.i32();
    if (count === NULL_COUNT) return null;
    if (count < 0) throw corrupt('negative length');
    this.align(8);
    const bytes = count * 8;
    this.need(bytes);
    const at = this.buf.byteOffset + this.pos;
    this.pos += bytes;
    // A view avoids a copy, but Float64Array needs an 8-aligned offset in its ArrayBuffer.
    if (at % 8 === 0) return new Float64Array(this.buf.buffer, at, count);
    const out = new Float64Array(count);
    new Uint8Array(out.buffer).set(new Uint8Array(this.buf.buffer, at, bytes));
    return out;
  }

  requiredFloats(): Float64Array {
    const a = this.floats();
    if (a === null) throw corrupt('missing column');
    return a;
  }

  strings(): (string | null)[] | null {
    const count = this.i32();
    if (count === NULL_COUNT) return null;
    if (count < 0) throw corrupt('negative length');
    const { lengths, units } = this.lengths(count);
    return this.splitText(lengths, units, this.u32());
  }

  /**
   * A column without nulls whose values `interner` shares. An ASCII column (bytes as many as UTF-16
   * units) is looked up straight from its bytes, so a value seen before costs no new string.
   */
  requiredSharedStrings(interner: KeyInterner): string[] {
    const count = this.i32();
    if (count < 0) throw corrupt(count === NULL_COUNT ? 'missing column' : 'negative length');
    const { lengths, units } = this.lengths(count);
    for (let i = 0; i < count; i++) if (lengths[i]! < 0) throw corrupt('null in a non-null column');
    const bytes = this.u32();
    if (bytes !== units) {
      const col = this.splitText(lengths, units, bytes) as string[];
      interner.internInPlace(col);
      return col;
    }
    this.need(bytes);
    const out = interner.fromAscii(this.buf, this.pos, lengths, count);
    this.pos += bytes;
    return out;
  }

  /** The `bytes` of a column's text, cut into its values by `lengths` (NULL_COUNT marks a null). */
  private splitText(lengths: Int32Array, units: number, bytes: number): (string | null)[] {
    const joined = this.utf8(bytes, units);
    if (joined.length !== units) throw corrupt('string lengths');
    const out = new Array<string | null>(lengths.length);
    let p = 0;
    for (let i = 0; i < lengths.length; i++) {
      const len = lengths[i]!;
      if (len === NULL_COUNT) out[i] = null;
      else {
        out[i] = joined.slice(p, p + len);
        p += len;
      }
    }
    return out;
  }

  /** The length table of a string column (NULL_COUNT marks a null), and the UTF-16 units it sums to. */
  private lengths(count: number): { lengths: Int32Array; units: number } {
    this.align(4);
    this.need(count * 4);
    const at = this.buf.byteOffset + this.pos;
    const lengths =
      at % 4 === 0
        ? new Int32Array(this.buf.buffer, at, count)
        : new Int32Array(new Uint8Array(this.buf.buffer, at, count * 4).slice().buffer);
    this.pos += count * 4;
    let units = 0;
    for (let i = 0; i < count; i++) {
      if (lengths[i]! < NULL_COUNT) throw corrupt('negative length');
      if (lengths[i]! > 0) units += lengths[i]!;
    }
    return { lengths, units };
  }

  requiredStrings(): string[] {
    const col = this.strings();
    if (col === null) throw corrupt('missing column');
    if (col.includes(null)) throw corrupt('null in a non-null column');
    return col as string[];
  }

  /** Steps over one column as `strings` would read it (null allowed), checking only its sizes. */
  private skipStrings(allowNull: boolean): void {
    const count = this.i32();
    if (count === NULL_COUNT && allowNull) return;
    if (count < 0) throw corrupt(count === NULL_COUNT ? 'missing column' : 'negative length');
    this.align(4);
    this.need(count * 4);
    this.pos += count * 4;
    const size = this.u32();
    this.need(size);
    this.pos += size;
  }

  /** Steps over what `nullableStringColumns` reads; the function returned decodes it with `read` when first called. */
  deferColumns<T>(bytes: Uint8Array, read: (later: ByteReader) => T): () => T {
    const start = this.pos;
    for (let n = this.u32(); n > 0; n--) this.skipStrings(false);
    return lazyRead(bytes, start, read);
  }

  /** Steps over what `strings` reads; the function returned decodes it with `read` when first called. */
  deferColumn<T>(bytes: Uint8Array, read: (later: ByteReader) => T): () => T {
    const start = this.pos;
    this.skipStrings(true);
    return lazyRead(bytes, start, read);
  }

  nullableStringColumns(): (string | null)[][] {
    const n = this.u32();
    const out: (string | null)[][] = [];
    for (let i = 0; i < n; i++) {
      const col = this.strings();
      if (col === null) throw corrupt('missing column');
      out.push(col);
    }
    return out;
  }
}

/** Reads what starts at `start` of `bytes` with `read`, once, when first called. */
function lazyRead<T>(bytes: Uint8Array, start: number, read: (later: ByteReader) => T): () => T {
  let decoded: { value: T } | undefined;
  return () => {
    if (decoded === undefined) {
      const later = new ByteReader(bytes);
      later.pos = start;
      decoded = { value: read(later) };
    }
    return decoded.value;
  };
}

/**
 * Key values shared across the batches the event loop decodes (`shareKeys`, see KeyInterner). Only
 * there: the store's thread decodes its own copy, and its pauses hold up no request, so the lookups
 * would only cost it time.
 */
const keyStrings = new KeyInterner();

/**
 * Decodes bytes made by BatchEncoder. Float64 columns may be views into `bytes` (when aligned), so the
 * caller must not reuse that memory for anything else afterwards.
 */
export function decodeBatch(bytes: Uint8Array, opts: { shareKeys?: boolean } = {}): ColumnarBatch {
  const r = new ByteReader(bytes);
  if (r.u32() !== MAGIC) throw corrupt('bad magic');
  const version = r.u32();
  if (version !== VERSION) throw corrupt(`unknown version ${version}`);
  const id = r.text();
  const dataset = r.text();
  const source = r.text();
  const seq = r.f64();
  const length = r.f64();
  const totalRows = r.f64();
  const end = { offset: r.f64(), line: r.f64() };
  // Keys too are decoded when first read: by then the batch has waited in the log, so its strings
  // live for less of it, and a replace-mode batch never needs them on the event loop.
  const keys = r.deferColumns(bytes, (later) => {
    const cols: string[][] = [];
    for (let n = later.u32(); n > 0; n--) {
      cols.push(opts.shareKeys === true ? later.requiredSharedStrings(keyStrings) : later.requiredStrings());
    }
    return cols;
  });
  const timeUs = r.floats();
  const fields: Float64Array[] = [];
  const fieldCount = r.u32();
  for (let i = 0; i < fieldCount; i++) fields.push(r.requiredFloats());
  // Payloads, attributes and time texts are decoded when first read: the event loop, which decodes
  // every batch, never reads them (the store's and the version builder's threads decode their own
  // copy), and a column of fresh strings per batch, kept alive until the batch is applied, is what
  // makes scavenges long.
  const payloads = r.deferColumns(bytes, (later) => later.nullableStringColumns());
  const attributes = r.deferColumns(bytes, (later) => later.nullableStringColumns());
  const timeText = r.deferColumn(bytes, (later) => {
    const col = later.strings();
    if (col !== null && col.includes(null)) throw corrupt('null in timeText');
    return col as string[] | null;
  });
  const hashes = r.floats();
  const lines = r.requiredFloats();
  const rejects: Reject[] = [];
  const rejectCount = r.u32();
  for (let i = 0; i < rejectCount; i++) {
    const line = r.f64();
    const reason = r.text();
    if (!REJECT_REASON_SET.has(reason)) throw corrupt(`unknown reject reason ${reason}`);
    rejects.push({ line, reason: reason as RejectReason, column: r.nullableText(), raw: r.text() });
  }
  if (!r.done) throw corrupt('trailing bytes');
  const batch: ColumnarBatch = {
    id,
    dataset,
    source,
    seq,
    length,
    get keys() {
      return keys();
    },
    timeUs,
    fields,
    get payloads() {
      return payloads();
    },
    get attributes() {
      return attributes();
    },
    get timeText() {
      return timeText();
    },
    hashes,
    lines,
    totalRows,
    rejects,
    end,
  };
  // Not enumerable: a copy made by spreading (which may change columns) must not carry it along.
  Object.defineProperty(batch, 'encoded', { value: bytes, enumerable: false });
  return batch;
}

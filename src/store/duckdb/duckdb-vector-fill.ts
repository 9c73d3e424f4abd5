import os from 'node:os';
import duckdb from '@duckdb/node-bindings';
import { SluiceError } from '../../core/errors.js';

/**
 * Writes a slice of a batch column straight into a DuckDB vector's memory: values are gathered into
 * a scratch typed array and copied in with one native call, NULLs are cleared bits in a validity
 * mask copied the same way. This avoids the node-api vector wrappers, which allocate a value object
 * (and a bigint) per timestamp and a bigint per validity bit.
 *
 * The layouts written here are DuckDB's in-memory formats on a little-endian machine: int64 and
 * double as 8 bytes, validity as 64-bit words with bit `i % 64` of word `i / 64` set for a valid row,
 * VARCHAR as 16-byte `string_t` entries.
 */

if (os.endianness() !== 'LE') {
  // The int32 halves and 32-bit validity words below are laid out for little-endian memory.
  throw new SluiceError('internal', 'the DuckDB vector writer needs a little-endian machine');
}

const TWO_POW_32 = 4294967296;
/** int64 holds |x| < 2^63; doubles at or above that cannot be written exactly. */
const INT64_LIMIT = 9223372036854775808;
/** `string_t` keeps strings of up to 12 bytes inline, after the 4-byte length. */
const INLINE_STRING_BYTES = 12;
const STRING_T_BYTES = 16;

/** Scratch buffers for one vector of up to `capacity` rows, reused for every slice. */
export class VectorScratch {
  readonly f64: Float64Array<ArrayBuffer>;
  /** int64 values as (low, high) int32 pairs over the same memory as `f64`. */
  readonly i32: Int32Array<ArrayBuffer>;
  readonly validity: Uint32Array<ArrayBuffer>;
  readonly strings: Uint8Array<ArrayBuffer>;
  /** Rows whose string does not fit inline; they are assigned through the binding one by one. */
  readonly spilled: Uint32Array;

  constructor(readonly capacity: number) {
    this.f64 = new Float64Array(capacity);
    this.i32 = new Int32Array(this.f64.buffer);
    // Whole 64-bit words, as DuckDB's mask is made of them.
    this.validity = new Uint32Array(Math.ceil(capacity / 64) * 2);
    this.strings = new Uint8Array(capacity * STRING_T_BYTES);
    this.spilled = new Uint32Array(capacity);
  }
}

function clearValidity(s: VectorScratch, size: number): void {
  s.validity.fill(0xffffffff, 0, Math.ceil(size / 64) * 2);
}

function markNull(s: VectorScratch, row: number): void {
  s.validity[row >>> 5] &= ~(1 << (row & 31));
}

/**
 * Copies the validity words for `size` rows. A freshly reset vector has no mask, which means every
 * row is valid, so the copy is only needed when some row is NULL.
 */
function flushValidity(vector: duckdb.Vector, s: VectorScratch, size: number, anyNull: boolean): void {
  if (!anyNull) return;
  duckdb.vector_ensure_validity_writable(vector);
  duckdb.copy_data_to_vector_validity(vector, 0, s.validity.buffer, 0, Math.ceil(size / 64) * 8);
}

/** Every row NULL: for a batch without the column (no time column, no dedup hashes). */
export function fillAllNull(vector: duckdb.Vector, s: VectorScratch, size: number): void {
  s.validity.fill(0, 0, Math.ceil(size / 64) * 2);
  duckdb.vector_ensure_validity_writable(vector);
  duckdb.copy_data_to_vector_validity(vector, 0, s.validity.buffer, 0, Math.ceil(size / 64) * 8);
}

/** DOUBLE column; NaN marks a missing value and is stored as NULL. */
export function fillDoubles(
  vector: duckdb.Vector,
  s: VectorScratch,
  values: Float64Array,
  rows: Uint32Array,
  from: number,
  size: number,
): void {
  const out = s.f64;
  let anyNull = false;
  clearValidity(s, size);
  for (let j = 0; j < size; j++) {
    const x = values[rows[from + j]!]!;
    if (x !== x) {
      anyNull = true;
      markNull(s, j);
      out[j] = 0;
    } else out[j] = x;
  }
  duckdb.copy_data_to_vector(vector, 0, out.buffer, 0, size * 8);
  flushValidity(vector, s, size, anyNull);
}

/**
 * BIGINT or TIMESTAMP (microseconds) column from doubles holding integers: each value is split into
 * two int32 halves, so no bigint is made. Fractions are truncated toward zero; NaN is stored as NULL.
 * A value that no int64 holds (±Infinity, |x| ≥ 2^63) throws, naming the batch row.
 */
export function fillInt64s(
  vector: duckdb.Vector,
  s: VectorScratch,
  values: Float64Array,
  rows: Uint32Array,
  from: number,
  size: number,
  what: string,
): void {
  const out = s.i32;
  let anyNull = false;
  clearValidity(s, size);
  for (let j = 0; j < size; j++) {
    const row = rows[from + j]!;
    const v = values[row]!;
    if (v !== v) {
      anyNull = true;
      markNull(s, j);
      out[2 * j] = 0;
      out[2 * j + 1] = 0;
      continue;
    }
    const x = Math.trunc(v);
    if (!(x > -INT64_LIMIT && x < INT64_LIMIT)) {
      throw new SluiceError('internal', `${what} ${v} at batch row ${row} cannot be stored`);
    }
    // Exact for every integral double below 2^63: dividing by 2^32 and flooring lose nothing.
    const high = Math.floor(x / TWO_POW_32);
    out[2 * j] = (x - high * TWO_POW_32) | 0;
    out[2 * j + 1] = high;
  }
  duckdb.copy_data_to_vector(vector, 0, out.buffer, 0, size * 8);
  flushValidity(vector, s, size, anyNull);
}

/**
 * VARCHAR column; null is stored as NULL. ASCII strings of up to 12 bytes (device ids, short codes)
 * are written inline into the `string_t` entries, zero-padded as DuckDB compares the whole entry;
 * longer or non-ASCII strings go through the binding, which copies them into the vector's heap.
 */
export function fillStrings(
  vector: duckdb.Vector,
  s: VectorScratch,
  values: readonly (string | null)[],
  rows: Uint32Array,
  from: number,
  size: number,
): void {
  const bytes = s.strings;
  bytes.fill(0, 0, size * STRING_T_BYTES);
  let spilled = 0;
  let anyNull = false;
  clearValidity(s, size);
  for (let j = 0; j < size; j++) {
    const v = values[rows[from + j]!];
    if (v === null || v === undefined) {
      anyNull = true;
      markNull(s, j);
      continue;
    }
    const n = v.length;
    if (n > INLINE_STRING_BYTES) {
      s.spilled[spilled++] = j;
      continue;
    }
    const at = j * STRING_T_BYTES;
    let ascii = true;
    for (let c = 0; c < n; c++) {
      const code = v.charCodeAt(c);
      if (code > 0x7f) {
        ascii = false;
        break;
      }
      bytes[at + 4 + c] = code;
    }
    if (!ascii) {
      bytes.fill(0, at + 4, at + STRING_T_BYTES);
      s.spilled[spilled++] = j;
      continue;
    }
    bytes[at] = n;
  }
  duckdb.copy_data_to_vector(vector, 0, bytes.buffer, 0, size * STRING_T_BYTES);
  // After the bulk copy, so these entries overwrite the empty placeholders written above.
  for (let k = 0; k < spilled; k++) {
    const j = s.spilled[k]!;
    duckdb.vector_assign_string_element(vector, j, values[rows[from + j]!]!);
  }
  flushValidity(vector, s, size, anyNull);
}

/** BIGINT column holding one integer value (|value| < 2^53) in every row. */
export function fillConstantInt64(
  vector: duckdb.Vector,
  s: VectorScratch,
  value: number,
  size: number,
): void {
  const out = s.i32;
  const high = Math.floor(value / TWO_POW_32);
  const low = (value - high * TWO_POW_32) | 0;
  for (let j = 0; j < size; j++) {
    out[2 * j] = low;
    out[2 * j + 1] = high;
  }
  duckdb.copy_data_to_vector(vector, 0, out.buffer, 0, size * 8);
}

/** BLOB column of `size` values from `values[0..size)`; null is NULL. One native call per non-null. */
export function fillBlobs(
  vector: duckdb.Vector,
  s: VectorScratch,
  values: readonly (Uint8Array | null)[],
  size: number,
): void {
  const bytes = s.strings;
  bytes.fill(0, 0, size * STRING_T_BYTES);
  let anyNull = false;
  clearValidity(s, size);
  for (let j = 0; j < size; j++) {
    if (values[j] === null) {
      anyNull = true;
      markNull(s, j);
    }
  }
  duckdb.copy_data_to_vector(vector, 0, bytes.buffer, 0, size * STRING_T_BYTES);
  for (let j = 0; j < size; j++) {
    const v = values[j];
    if (v !== null && v !== undefined) duckdb.vector_assign_string_element_len(vector, j, v);
  }
  flushValidity(vector, s, size, anyNull);
}

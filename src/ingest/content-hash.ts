/**
 * Row hashes for dedup and canonical JSON for payload columns.
 *
 * Hashes are computed over the parsed values (key text, time in µs, field numbers, canonical payload
 * text), so `21.5` and `21.50`, or `{"x":1,"y":2}` and `{"y":2,"x":1}`, hash the same. Two independent
 * 32-bit lanes are combined into 53 bits so the result is an exact JS number.
 */

const SEED_A = 0x9747b28c;
const SEED_B = 0x811c9dc5;

// Scratch views to read a double's bits without allocating.
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

const TAG_STRING = 1;
const TAG_NUMBER = 2;
const TAG_NULL = 3;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** An incremental, allocation-free 53-bit hasher. Reuse one instance per decoder. */
export class RowHasher {
  private a = SEED_A;
  private b = SEED_B;

  reset(): void {
    this.a = SEED_A;
    this.b = SEED_B;
  }

  /** Mixes one 32-bit word into both lanes: a murmur3 round and an FNV-style multiply-xorshift. */
  addWord(word: number): void {
    let k = Math.imul(word, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    let a = this.a ^ k;
    a = (a << 13) | (a >>> 19);
    this.a = (Math.imul(a, 5) + 0xe6546b64) | 0;
    let b = Math.imul(this.b ^ word, 0x01000193);
    b ^= b >>> 15;
    this.b = Math.imul(b, 0x2c1b3c6d);
  }

  /** Strings go two UTF-16 units per round, with the lanes in locals: this is the per-row cost. */
  addString(s: string): void {
    this.addWord(TAG_STRING);
    const n = s.length;
    let a = this.a;
    let b = this.b;
    let i = 0;
    for (; i < n; i += 2) {
      const word = i + 1 < n ? s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16) : s.charCodeAt(i);
      let k = Math.imul(word, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      a ^= k;
      a = (a << 13) | (a >>> 19);
      a = (Math.imul(a, 5) + 0xe6546b64) | 0;
      b = Math.imul(b ^ word, 0x01000193);
      b ^= b >>> 15;
      b = Math.imul(b, 0x2c1b3c6d);
    }
    this.a = a;
    this.b = b;
    // The length closes the value, so ("ab","c") and ("a","bc") differ.
    this.addWord(n);
  }

  addNumber(x: number): void {
    this.addWord(TAG_NUMBER);
    if (x !== x) {
      this.addWord(0x7ff80000);
      this.addWord(0);
      return;
    }
    f64[0] = x === 0 ? 0 : x; // -0 and 0 are the same value
    this.addWord(u32[0]!);
    this.addWord(u32[1]!);
  }

  addNull(): void {
    this.addWord(TAG_NULL);
  }

  /** A 53-bit hash, never 0 (0 can then mean "no hash" to consumers). */
  digest(): number {
    const a = fmix32(this.a ^ Math.imul(this.b, 0x9e3779b1));
    const b = fmix32(this.b ^ a);
    const h = (a >>> 11) * 4294967296 + b;
    return h === 0 ? 1 : h;
  }
}

const shared = new RowHasher();

/** Hash of a row's content: key values, time (µs, NaN when absent), field values, canonical payloads. */
export function contentHashOf(
  keys: readonly string[],
  timeUs: number,
  fields: readonly number[],
  payloads: readonly (string | null)[],
): number {
  shared.reset();
  for (const k of keys) shared.addString(k);
  shared.addNumber(timeUs);
  for (const f of fields) shared.addNumber(f);
  for (const p of payloads) {
    if (p === null) shared.addNull();
    else shared.addString(p);
  }
  return shared.digest();
}

/** Hash of a row's key values only (for `dedup: key`). */
export function keyHashOf(keys: readonly string[]): number {
  shared.reset();
  for (const k of keys) shared.addString(k);
  return shared.digest();
}

/**
 * Serialises a JSON value with object keys sorted recursively and no whitespace. Key order is by
 * UTF-16 code units, as in RFC 8785. Numbers use JavaScript's shortest round-trip form.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    // undefined, functions and symbols are not JSON; they only occur when called from code.
    return text === undefined ? 'null' : text;
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += canonicalJson(value[i] as unknown);
    }
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (i > 0) out += ',';
    out += JSON.stringify(k) + ':' + canonicalJson(obj[k]);
  }
  return out + '}';
}

/** Parses JSON text and returns its canonical form, or undefined when it is not valid JSON. */
export function canonicalizeJsonText(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return canonicalJson(value);
}

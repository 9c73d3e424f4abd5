/**
 * InfluxDB line protocol:
 *
 *     measurement[,tag=value…] field=value[,field=value…] [timestamp]
 *
 * - Measurement: `\,` and `\ ` are escapes. Tag keys, tag values and field keys: `\,`, `\=` and `\ `.
 *   In all of them `\\` is one backslash, and a backslash before any other character is literal.
 * - Field values: float (`1`, `-1.5e-3`), integer `12i`, unsigned `12u`, string `"…"` (`\"` and `\\`
 *   are escapes; a raw newline inside the quotes is part of the string), boolean `t T true True TRUE`
 *   / `f F false False FALSE`.
 * - Timestamp: an integer in the request's precision (checked against int64), or absent.
 * - Lines starting with `#` are comments; blank lines are skipped; `\r\n` ends a line like `\n`.
 *
 * The parser never throws for bad input: a bad line becomes a `LineError` with its 1-based line number,
 * and parsing goes on at the next line.
 */

export type FieldValue =
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'integer'; readonly value: number }
  | { readonly type: 'unsigned'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'boolean'; readonly value: boolean };

export interface LinePoint {
  readonly measurement: string;
  readonly tags: readonly (readonly [string, string])[];
  /** In line order; a repeated key keeps its last value. */
  readonly fields: readonly (readonly [string, FieldValue])[];
  /** Integer text (optional `-`), in the request's precision; null when the line has none. */
  readonly timestamp: string | null;
  /** 1-based line of the point's first character. */
  readonly line: number;
}

export interface LineError {
  readonly line: number;
  readonly message: string;
  /** The line's text, truncated. */
  readonly raw: string;
}

export interface ParsedLines {
  points: LinePoint[];
  errors: LineError[];
}

const BACKSLASH = 92;
const COMMA = 44;
const EQUALS = 61;
const SPACE = 32;
const TAB = 9;
const LF = 10;
const CR = 13;
const QUOTE = 34;
const HASH = 35;

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const UINT64_MAX = 18446744073709551615n;
const FLOAT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const INTEGER = /^[-+]?\d+$/;
const UNSIGNED = /^\d+$/;
const TRUE = new Set(['t', 'T', 'true', 'True', 'TRUE']);
const FALSE = new Set(['f', 'F', 'false', 'False', 'FALSE']);
const RAW_LIMIT = 1024;

class ParseError extends Error {}

/** Parses a whole body. */
export function parseLineProtocol(text: string): ParsedLines {
  const out: ParsedLines = { points: [], errors: [] };
  const p = new Parser(text);
  while (!p.done()) p.next(out);
  return out;
}

class Parser {
  private i = 0;
  private line = 1;

  constructor(private readonly s: string) {}

  done(): boolean {
    return this.i >= this.s.length;
  }

  next(out: ParsedLines): void {
    const s = this.s;
    // Leading whitespace, blank lines and comments.
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === SPACE || c === TAB || c === CR) this.i++;
      else if (c === LF) {
        this.i++;
        this.line++;
      } else break;
    }
    if (this.i >= s.length) return;
    const start = this.i;
    const line = this.line;
    if (s.charCodeAt(this.i) === HASH) {
      this.skipLine();
      return;
    }
    try {
      out.points.push(this.point(line));
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      // Resume after the end of the line the error is on (a quoted string may have spanned lines).
      this.skipLine();
      const end = this.i;
      out.errors.push({ line, message: e.message, raw: s.slice(start, end).trimEnd().slice(0, RAW_LIMIT) });
    }
  }

  private skipLine(): void {
    const lf = this.s.indexOf('\n', this.i);
    this.i = lf < 0 ? this.s.length : lf;
  }

  private atLineEnd(): boolean {
    const c = this.s.charCodeAt(this.i);
    return this.i >= this.s.length || c === LF || (c === CR && this.s.charCodeAt(this.i + 1) === LF);
  }

  private point(line: number): LinePoint {
    const measurement = this.token(false);
    if (measurement === '') throw new ParseError('missing measurement');
    const tags: [string, string][] = [];
    while (this.s.charCodeAt(this.i) === COMMA) {
      this.i++;
      const key = this.token(true);
      if (key === '') throw new ParseError('missing tag key');
      if (this.s.charCodeAt(this.i) !== EQUALS) throw new ParseError(`missing tag value for '${key}'`);
      this.i++;
      const value = this.token(true);
      if (value === '') throw new ParseError(`missing tag value for '${key}'`);
      if (this.s.charCodeAt(this.i) === EQUALS)
        throw new ParseError(`unescaped '=' in tag value of '${key}'`);
      tags.push([key, value]);
    }
    if (!this.spaces()) throw new ParseError(this.atLineEnd() ? 'missing fields' : 'invalid tag format');
    const fields = new Map<string, FieldValue>();
    for (;;) {
      const key = this.token(true);
      if (key === '') throw new ParseError('missing field key');
      if (this.s.charCodeAt(this.i) !== EQUALS) throw new ParseError(`missing field value for '${key}'`);
      this.i++;
      fields.delete(key);
      fields.set(key, this.fieldValue(key));
      if (this.s.charCodeAt(this.i) !== COMMA) break;
      this.i++;
    }
    let timestamp: string | null = null;
    if (this.spaces() && !this.atLineEnd()) {
      const start = this.i;
      while (!this.atLineEnd() && !isBlank(this.s.charCodeAt(this.i))) this.i++;
      timestamp = this.s.slice(start, this.i);
      if (!INTEGER.test(timestamp) || !inRange(BigInt(timestamp), INT64_MIN, INT64_MAX))
        throw new ParseError(`bad timestamp '${timestamp.slice(0, 40)}'`);
      if (timestamp.startsWith('+')) timestamp = timestamp.slice(1);
      this.spaces();
    }
    if (!this.atLineEnd())
      throw new ParseError(
        timestamp === null ? 'invalid field format' : 'unexpected text after the timestamp',
      );
    return { measurement, tags, fields: [...fields], timestamp, line };
  }

  /** Skips spaces and tabs; true if there were any. */
  private spaces(): boolean {
    const from = this.i;
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c === SPACE || c === TAB || (c === CR && this.s.charCodeAt(this.i + 1) !== LF)) this.i++;
      else break;
    }
    return this.i > from;
  }

  /**
   * A measurement (`keyLike` false) or a tag key, tag value or field key (`keyLike` true), unescaped.
   * Stops at an unescaped comma, space, line end, or (`keyLike`) equals sign.
   */
  private token(keyLike: boolean): string {
    const s = this.s;
    let out = '';
    let from = this.i;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === BACKSLASH) {
        const n = s.charCodeAt(this.i + 1);
        if (n === COMMA || n === SPACE || n === BACKSLASH || (keyLike && n === EQUALS)) {
          out += s.slice(from, this.i) + String.fromCharCode(n);
          this.i += 2;
          from = this.i;
          continue;
        }
        this.i++;
        continue;
      }
      if (c === COMMA || c === SPACE || c === TAB || c === LF || (keyLike && c === EQUALS)) break;
      if (c === CR && s.charCodeAt(this.i + 1) === LF) break;
      this.i++;
    }
    return out + s.slice(from, this.i);
  }

  private fieldValue(key: string): FieldValue {
    const s = this.s;
    if (s.charCodeAt(this.i) === QUOTE) return { type: 'string', value: this.quoted(key) };
    const start = this.i;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === COMMA || isBlank(c)) break;
      this.i++;
    }
    const text = s.slice(start, this.i);
    if (text === '') throw new ParseError(`missing field value for '${key}'`);
    const last = text.charCodeAt(text.length - 1);
    if (last === 105 /* i */) {
      const digits = text.slice(0, -1);
      if (!INTEGER.test(digits) || !inRange(BigInt(digits), INT64_MIN, INT64_MAX))
        throw new ParseError(`bad integer '${text.slice(0, 40)}' for field '${key}'`);
      return { type: 'integer', value: Number(digits) };
    }
    if (last === 117 /* u */) {
      const digits = text.slice(0, -1);
      if (!UNSIGNED.test(digits) || !inRange(BigInt(digits), 0n, UINT64_MAX))
        throw new ParseError(`bad unsigned integer '${text.slice(0, 40)}' for field '${key}'`);
      return { type: 'unsigned', value: Number(digits) };
    }
    if (TRUE.has(text)) return { type: 'boolean', value: true };
    if (FALSE.has(text)) return { type: 'boolean', value: false };
    if (!FLOAT.test(text)) throw new ParseError(`bad field value '${text.slice(0, 40)}' for field '${key}'`);
    const value = Number(text);
    if (!Number.isFinite(value)) throw new ParseError(`float out of range for field '${key}'`);
    return { type: 'float', value };
  }

  /** A double-quoted string starting at the opening quote; `\"` and `\\` are escapes. */
  private quoted(key: string): string {
    const s = this.s;
    this.i++;
    let out = '';
    let from = this.i;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === BACKSLASH) {
        const n = s.charCodeAt(this.i + 1);
        if (n === QUOTE || n === BACKSLASH) {
          out += s.slice(from, this.i) + String.fromCharCode(n);
          this.i += 2;
          from = this.i;
          continue;
        }
      } else if (c === QUOTE) {
        out += s.slice(from, this.i);
        this.i++;
        return out;
      } else if (c === LF) this.line++;
      this.i++;
    }
    throw new ParseError(`unterminated string for field '${key}'`);
  }
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB || c === LF || c === CR;
}

function inRange(v: bigint, min: bigint, max: bigint): boolean {
  return v >= min && v <= max;
}

/**
 * Event-time parsing to microseconds since the epoch.
 *
 * The common shapes (epoch digits, RFC 3339, `YYYY-MM-DD HH:MM:SS +0200 CEST`) are parsed by hand with
 * `charCodeAt`, because this runs once per row and `Date.parse` or a regex would dominate the decoder.
 */

import { compileFormat } from './time-format.js';
import {
  C_0,
  C_9,
  C_COLON,
  C_MINUS,
  C_PLUS,
  civilToUs,
  digitsAt,
  fractionDigits,
  isLetter,
  offsetEnd,
  readOffset,
  US_PER_SECOND,
} from './time-fields.js';

export { daysFromCivil } from './time-fields.js';

/** Epoch magnitudes: below 1e11 is seconds (until year 5138), then ms, µs, ns. */
const EPOCH_SECONDS_BELOW = 1e11;
const EPOCH_MS_BELOW = 1e14;
const EPOCH_US_BELOW = 1e17;

const C_DOT = 46;
const C_COMMA = 44;
const C_SPACE = 32;

/**
 * Parses a time to microseconds since the epoch, or undefined when the text is not a time.
 * Without a declared `format`: epoch s/ms/µs/ns by magnitude, RFC 3339 / ISO 8601 (date-only too),
 * and `YYYY-MM-DD HH:MM:SS[.f] [+hhmm|+hh:mm|Z|UTC] [zone name]` as printed by Go's `time.String()`.
 * A time without an offset is UTC. Sub-microsecond digits are truncated.
 */
export function parseTimeToUs(text: string, format?: string): number | undefined {
  if (format !== undefined) return compileFormat(format)(text);
  let s = text;
  const n = s.length;
  if (n === 0) return undefined;
  if (s.charCodeAt(0) === C_SPACE || s.charCodeAt(n - 1) === C_SPACE) {
    s = s.trim();
    if (s.length === 0) return undefined;
  }
  const c0 = s.charCodeAt(0);
  if (c0 === C_MINUS || c0 === C_PLUS) return parseEpochText(s);
  if (c0 < C_0 || c0 > C_9) return undefined;
  // Four digits then '-' is a calendar date; any other digit run is an epoch number.
  if (s.length >= 10 && s.charCodeAt(4) === C_MINUS && digitsAt(s, 0, 4) >= 0) return parseCalendar(s);
  return parseEpochText(s);
}

/** Converts an epoch number (NDJSON numeric time) to µs, choosing the unit by magnitude. */
export function epochNumberToUs(value: number): number | undefined {
  if (!Number.isFinite(value)) return undefined;
  const a = Math.abs(value);
  let us: number;
  if (a < EPOCH_SECONDS_BELOW) us = value * US_PER_SECOND;
  else if (a < EPOCH_MS_BELOW) us = value * 1000;
  else if (a < EPOCH_US_BELOW) us = value;
  else us = value / 1000;
  return Math.trunc(us);
}

/** Two ASCII digits at `at`, or -1. */
function twoDigits(buf: Uint8Array, at: number): number {
  const a = buf[at]! - C_0;
  const b = buf[at + 1]! - C_0;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * Byte-level fast path for the commonest shapes, so the hot path need not create a string: epoch
 * digits (up to 15) and `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z]`. Returns undefined for any other shape
 * and for invalid values; the caller then decides with `parseTimeToUs` on the text.
 */
export function parseTimeBytesFast(buf: Uint8Array, s: number, e: number): number | undefined {
  const n = e - s;
  if (n <= 0) return undefined;
  if (n >= 19 && buf[s + 4] === C_MINUS) {
    if (buf[s + 7] !== C_MINUS || buf[s + 13] !== C_COLON || buf[s + 16] !== C_COLON) return undefined;
    const sep = buf[s + 10];
    if (sep !== 84 && sep !== C_SPACE) return undefined;
    const y1 = twoDigits(buf, s);
    const y2 = twoDigits(buf, s + 2);
    const month = twoDigits(buf, s + 5);
    const day = twoDigits(buf, s + 8);
    const hour = twoDigits(buf, s + 11);
    const minute = twoDigits(buf, s + 14);
    const second = twoDigits(buf, s + 17);
    if ((y1 | y2 | month | day | hour | minute | second) < 0) return undefined;
    let i = s + 19;
    let fracUs = 0;
    if (i < e && buf[i] === C_DOT) {
      i++;
      let scale = 100_000;
      const fracStart = i;
      while (i < e) {
        const d = buf[i]! - C_0;
        if (d < 0 || d > 9) break;
        // Digits past microseconds are truncated.
        if (scale >= 1) fracUs += d * scale;
        scale /= 10;
        i++;
      }
      if (i === fracStart) return undefined;
    }
    if (i < e && buf[i] === 90 /* Z */) i++;
    if (i !== e) return undefined;
    const base = civilToUs(y1 * 100 + y2, month, day, hour, minute, second);
    return base === undefined ? undefined : base + fracUs;
  }
  if (n > 15) return undefined;
  let v = 0;
  for (let i = s; i < e; i++) {
    const d = buf[i]! - C_0;
    if (d < 0 || d > 9) return undefined;
    v = v * 10 + d;
  }
  if (v < EPOCH_SECONDS_BELOW) return v * US_PER_SECOND;
  if (v < EPOCH_MS_BELOW) return v * 1000;
  return v;
}

function parseEpochText(s: string): number | undefined {
  const n = s.length;
  let i = 0;
  let negative = false;
  const c0 = s.charCodeAt(0);
  if (c0 === C_MINUS || c0 === C_PLUS) {
    negative = c0 === C_MINUS;
    i = 1;
  }
  const intStart = i;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c < C_0 || c > C_9) break;
    i++;
  }
  const intEnd = i;
  if (intEnd === intStart) return undefined;
  let fracStart = intEnd;
  let fracEnd = intEnd;
  if (i < n) {
    if (s.charCodeAt(i) !== C_DOT) return undefined;
    fracStart = ++i;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < C_0 || c > C_9) return undefined;
      i++;
    }
    fracEnd = i;
  }
  // Split off the last three integer digits so nanosecond values stay exact after dropping them.
  const splitAt = Math.max(intStart, intEnd - 3);
  let high = 0;
  for (let k = intStart; k < splitAt; k++) high = high * 10 + (s.charCodeAt(k) - C_0);
  let low3 = 0;
  for (let k = splitAt; k < intEnd; k++) low3 = low3 * 10 + (s.charCodeAt(k) - C_0);
  const value = high * 1000 + low3;
  let us: number;
  if (value < EPOCH_SECONDS_BELOW) us = value * US_PER_SECOND + fractionDigits(s, fracStart, fracEnd, 6);
  else if (value < EPOCH_MS_BELOW) us = value * 1000 + fractionDigits(s, fracStart, fracEnd, 3);
  else if (value < EPOCH_US_BELOW) us = value;
  else us = high;
  return negative ? -us : us;
}

function parseCalendar(s: string): number | undefined {
  const n = s.length;
  const year = digitsAt(s, 0, 4);
  const month = digitsAt(s, 5, 2);
  const day = digitsAt(s, 8, 2);
  if (year < 0 || month < 0 || day < 0 || s.charCodeAt(7) !== C_MINUS) return undefined;
  if (n === 10) return civilToUs(year, month, day, 0, 0, 0);
  const sep = s.charCodeAt(10);
  if (sep !== 84 /* T */ && sep !== 116 /* t */ && sep !== C_SPACE) return undefined;
  const hour = digitsAt(s, 11, 2);
  const minute = digitsAt(s, 14, 2);
  if (hour < 0 || minute < 0 || s.charCodeAt(13) !== C_COLON) return undefined;
  let i = 16;
  let second = 0;
  if (i < n && s.charCodeAt(i) === C_COLON) {
    second = digitsAt(s, i + 1, 2);
    if (second < 0) return undefined;
    i += 3;
  }
  let fracUs = 0;
  if (i < n && (s.charCodeAt(i) === C_DOT || s.charCodeAt(i) === C_COMMA)) {
    const fracStart = ++i;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < C_0 || c > C_9) break;
      i++;
    }
    if (i === fracStart) return undefined;
    fracUs = fractionDigits(s, fracStart, i, 6);
  }
  const base = civilToUs(year, month, day, hour, minute, second);
  if (base === undefined) return undefined;
  const zone = parseZone(s, i);
  if (zone === undefined) return undefined;
  return base + fracUs - zone * 60 * US_PER_SECOND;
}

/**
 * Parses what may follow the clock: an optional space, an offset (`Z`, `+02`, `+0200`, `+02:00`) or
 * `UTC`/`GMT`, then an optional zone name (`CEST`, or Go's `+03` for unnamed zones) and Go's monotonic
 * clock suffix (` m=+0.001`). Returns the offset in minutes, or undefined when the tail is not a zone.
 */
function parseZone(s: string, start: number): number | undefined {
  const n = s.length;
  let i = start;
  if (i === n) return 0;
  if (s.charCodeAt(i) === C_SPACE) i++;
  if (i === n) return undefined;
  let offset = 0;
  let sawOffset = false;
  const c = s.charCodeAt(i);
  if (c === 90 || c === 122 || c === C_PLUS || c === C_MINUS) {
    offset = readOffset(s, i);
    if (offset !== offset) return undefined;
    i = offsetEnd;
    sawOffset = true;
  }
  if (i < n && sawOffset) {
    if (s.charCodeAt(i) !== C_SPACE) return undefined;
    i++;
  }
  // A zone name, informational when an offset was given; alone only UTC/GMT have a known offset.
  if (i < n && s.charCodeAt(i) !== 109 /* m */) {
    const nameStart = i;
    if (s.charCodeAt(i) === C_PLUS || s.charCodeAt(i) === C_MINUS) i++;
    while (i < n && (isLetter(s.charCodeAt(i)) || (s.charCodeAt(i) >= C_0 && s.charCodeAt(i) <= C_9))) i++;
    if (i === nameStart) return undefined;
    if (!sawOffset) {
      const name = s.slice(nameStart, i);
      if (name !== 'UTC' && name !== 'GMT') return undefined;
    }
    if (i < n) {
      if (s.charCodeAt(i) !== C_SPACE) return undefined;
      i++;
    }
  } else if (!sawOffset) {
    return undefined;
  }
  if (i < n) {
    // Go appends the monotonic clock reading as ` m=+0.000000001`; it says nothing about wall time.
    if (s.charCodeAt(i) !== 109 || s.charCodeAt(i + 1) !== 61 /* = */) return undefined;
  }
  return offset;
}

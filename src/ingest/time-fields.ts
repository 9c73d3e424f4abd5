/**
 * Field readers shared by the built-in time shapes (time-parse.ts) and declared formats
 * (time-format.ts): fixed-width digits, fractions, UTC offsets and calendar arithmetic, all on
 * `charCodeAt` so they allocate nothing per row.
 */

export const US_PER_SECOND = 1_000_000;
const US_PER_DAY = 86_400 * US_PER_SECOND;

export const C_0 = 48;
export const C_9 = 57;
export const C_PLUS = 43;
export const C_MINUS = 45;
export const C_COLON = 58;

/** Reads `count` digits at `at`; -1 when any is not a digit. */
export function digitsAt(s: string, at: number, count: number): number {
  if (at + count > s.length) return -1;
  let v = 0;
  for (let i = at; i < at + count; i++) {
    const d = s.charCodeAt(i) - C_0;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** The first `width` digits of a fraction, right-padded with zeros (e.g. `.5` at width 6 is 500000). */
export function fractionDigits(s: string, from: number, to: number, width: number): number {
  let v = 0;
  for (let k = 0; k < width; k++) {
    const i = from + k;
    v = v * 10 + (i < to ? s.charCodeAt(i) - C_0 : 0);
  }
  return v;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

export function civilToUs(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): number | undefined {
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  return daysFromCivil(year, month, day) * US_PER_DAY + ((hour * 60 + minute) * 60 + second) * US_PER_SECOND;
}

export function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/**
 * Where the offset read by readOffset ended (a module scratch, so the hot path allocates nothing).
 * Importers see it as a live binding: read it right after calling readOffset.
 */
export let offsetEnd = 0;

/** Reads `Z`, `+hh`, `+hhmm` or `+hh:mm` at `i`: the offset in minutes (end in offsetEnd), or NaN. */
export function readOffset(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 90 /* Z */ || c === 122 /* z */) {
    offsetEnd = i + 1;
    return 0;
  }
  if (c !== C_PLUS && c !== C_MINUS) return NaN;
  const hh = digitsAt(s, i + 1, 2);
  if (hh < 0 || hh > 23) return NaN;
  let j = i + 3;
  const colon = s.charCodeAt(j) === C_COLON;
  if (colon) j++;
  let mm = 0;
  const m2 = digitsAt(s, j, 2);
  if (m2 >= 0) {
    if (m2 > 59) return NaN;
    mm = m2;
    j += 2;
  } else if (colon) return NaN;
  offsetEnd = j;
  return (hh * 60 + mm) * (c === C_MINUS ? -1 : 1);
}

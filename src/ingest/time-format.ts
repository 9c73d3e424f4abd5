/**
 * Declared time formats (a field's `format`, e.g. `YYYY-MM-DD HH:mm:ss Z zz`), each compiled once.
 */

import {
  C_0,
  C_9,
  civilToUs,
  digitsAt,
  fractionDigits,
  isLetter,
  offsetEnd,
  readOffset,
  US_PER_SECOND,
} from './time-fields.js';

type FormatToken = 'YYYY' | 'MM' | 'DD' | 'HH' | 'mm' | 'ss' | 'SSS' | 'Z' | 'zz';
type FormatPart = { readonly token: FormatToken } | { readonly literal: string };
type CompiledFormat = (text: string) => number | undefined;

const TOKENS: readonly FormatToken[] = ['YYYY', 'SSS', 'MM', 'DD', 'HH', 'mm', 'ss', 'zz', 'Z'];
const compiledFormats = new Map<string, CompiledFormat>();

/**
 * Compiles a declared format once. Tokens: `YYYY MM DD HH mm ss` (fixed width), `SSS` (1 to 9
 * fraction digits), `Z` (`Z`, `+hh`, `+hhmm`, `+hh:mm`), `zz` (a zone name, ignored); `[text]` and
 * any other character are literal.
 */
export function compileFormat(format: string): CompiledFormat {
  const cached = compiledFormats.get(format);
  if (cached !== undefined) return cached;
  const parts: FormatPart[] = [];
  let literal = '';
  for (let i = 0; i < format.length;) {
    if (format[i] === '[') {
      const close = format.indexOf(']', i + 1);
      const end = close < 0 ? format.length : close;
      literal += format.slice(i + 1, end);
      i = end + 1;
      continue;
    }
    const token = TOKENS.find((t) => format.startsWith(t, i));
    if (token === undefined) {
      literal += format[i];
      i++;
      continue;
    }
    if (literal !== '') parts.push({ literal });
    literal = '';
    parts.push({ token });
    i += token.length;
  }
  if (literal !== '') parts.push({ literal });
  const compiled: CompiledFormat = (text) => parseWithParts(parts, text);
  compiledFormats.set(format, compiled);
  return compiled;
}

function parseWithParts(parts: readonly FormatPart[], s: string): number | undefined {
  let year = 1970;
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let fracUs = 0;
  let offset = 0;
  let i = 0;
  const n = s.length;
  for (const part of parts) {
    if ('literal' in part) {
      if (!s.startsWith(part.literal, i)) return undefined;
      i += part.literal.length;
      continue;
    }
    switch (part.token) {
      case 'YYYY':
        year = digitsAt(s, i, 4);
        i += 4;
        if (year < 0) return undefined;
        break;
      case 'SSS': {
        const start = i;
        while (i < n && i - start < 9 && s.charCodeAt(i) >= C_0 && s.charCodeAt(i) <= C_9) i++;
        if (i === start) return undefined;
        fracUs = fractionDigits(s, start, i, 6);
        break;
      }
      case 'Z':
        offset = readOffset(s, i);
        if (offset !== offset) return undefined;
        i = offsetEnd;
        break;
      case 'zz': {
        const start = i;
        while (i < n && isLetter(s.charCodeAt(i))) i++;
        if (i === start) return undefined;
        break;
      }
      default: {
        const v = digitsAt(s, i, 2);
        i += 2;
        if (v < 0) return undefined;
        if (part.token === 'MM') month = v;
        else if (part.token === 'DD') day = v;
        else if (part.token === 'HH') hour = v;
        else if (part.token === 'mm') minute = v;
        else second = v;
      }
    }
  }
  if (i !== n) return undefined;
  const base = civilToUs(year, month, day, hour, minute, second);
  return base === undefined ? undefined : base + fracUs - offset * 60 * US_PER_SECOND;
}

import type { ColumnSpec, DatasetLayout } from '../core/dataset.js';
import { durationMs } from '../core/duration.js';
import type { RejectReason } from '../core/errors.js';
import type { BatchBuilder } from './batch-builder.js';
import { canonicalJson, canonicalizeJsonText } from './content-hash.js';
import { epochNumberToUs, parseTimeToUs } from './time-parse.js';

/**
 * Row rules: one pass over the declared columns in declared order, writing each value into the batch
 * builder; the first failing column decides the row's reject reason. Failures are values, never throws.
 */

/** A decoded CSV row, read cell by cell (implemented by CsvScanner over its bytes). */
export interface RowCells {
  readonly cellCount: number;
  cellIsEmpty(i: number): boolean;
  cellText(i: number): string;
  /** NaN when the cell is not a decimal number. */
  cellNumber(i: number): number;
  /** Time from the bytes for the common shapes; undefined means "ask parseTimeToUs with the text". */
  cellTimeUs(i: number): number | undefined;
  rowIsText(): boolean;
  rawText(): string;
}

const ROLE_KEY = 0;
const ROLE_TIME = 1;
const ROLE_FIELD = 2;
const ROLE_PAYLOAD = 3;
const ROLE_ATTRIBUTE = 4;

/** A column's rules, compiled once per decoder. */
export interface ColumnPlan {
  readonly name: string;
  readonly declIndex: number;
  readonly role: number;
  /** Index of the column within its role's arrays in the batch. */
  readonly slot: number;
  readonly required: boolean;
  readonly type: ColumnSpec['type'];
  readonly numeric: boolean;
  readonly integer: boolean;
  readonly min: number;
  readonly max: number;
  readonly enumValues: ReadonlySet<string> | null;
  readonly pattern: RegExp | null;
  readonly format: string | undefined;
  readonly minUs: number;
  readonly maxUs: number;
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parses decimal text the way `Number()` does, except that empty or blank text, hex/octal/binary
 * literals, `NaN` and `Infinity` give NaN. The fast path accumulates digits; anything unusual goes
 * through a regex check and `Number()`.
 */
export function parseDecimalText(text: string): number {
  const n = text.length;
  let i = 0;
  let negative = false;
  const c0 = text.charCodeAt(0);
  if (c0 === 45 || c0 === 43) {
    negative = c0 === 45;
    i = 1;
  }
  let mantissa = 0;
  let digits = 0;
  let scale = 0;
  while (i < n) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    mantissa = mantissa * 10 + d;
    digits++;
    i++;
  }
  if (i < n && text.charCodeAt(i) === 46) {
    i++;
    while (i < n) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      mantissa = mantissa * 10 + d;
      digits++;
      scale++;
      i++;
    }
  }
  if (i === n && digits > 0 && digits <= 15 && scale <= 22) {
    const v = scale === 0 ? mantissa : mantissa / 10 ** scale;
    return negative ? -v : v;
  }
  const t = text.trim();
  if (!DECIMAL.test(t)) return NaN;
  const v = Number(t);
  return Number.isFinite(v) ? v : NaN;
}

export function compileColumns(layout: DatasetLayout, nowMs: number): ColumnPlan[] {
  const roleCode = {
    key: ROLE_KEY,
    time: ROLE_TIME,
    field: ROLE_FIELD,
    payload: ROLE_PAYLOAD,
    attribute: ROLE_ATTRIBUTE,
  };
  const roleList = {
    key: layout.keys,
    time: layout.time ? [layout.time] : [],
    field: layout.fields,
    payload: layout.payloads,
    attribute: layout.attributes,
  };
  return layout.spec.columns.map((c, declIndex) => {
    const past = c.window?.past;
    const future = c.window?.future;
    return {
      name: c.name,
      declIndex,
      role: roleCode[c.role],
      slot: roleList[c.role].indexOf(c),
      required: c.required || c.role === 'key',
      type: c.type,
      numeric: c.type === 'number' || c.type === 'integer',
      integer: c.type === 'integer',
      min: c.min ?? -Infinity,
      max: c.max ?? Infinity,
      enumValues: c.enum ? new Set(c.enum) : null,
      pattern: c.pattern !== undefined ? new RegExp(c.pattern) : null,
      format: c.format,
      minUs: past === undefined ? -Infinity : (nowMs - durationMs(past)) * 1000,
      maxUs: future === undefined ? Infinity : (nowMs + durationMs(future)) * 1000,
    };
  });
}

function checkNumber(p: ColumnPlan, v: number): RejectReason | null {
  if (v !== v || (p.integer && !Number.isInteger(v))) return 'not_a_number';
  if (v < p.min || v > p.max) return 'out_of_range';
  return null;
}

function checkEnumAndPattern(p: ColumnPlan, text: string): RejectReason | null {
  if (p.enumValues !== null && !p.enumValues.has(text)) return 'not_in_enum';
  if (p.pattern !== null && !p.pattern.test(text)) return 'pattern_mismatch';
  return null;
}

/** Rules for a key or attribute value, whose stored form is text. */
function checkText(p: ColumnPlan, text: string): RejectReason | null {
  if (p.numeric) {
    const r = checkNumber(p, parseDecimalText(text));
    if (r !== null) return r;
  } else if (p.type === 'time') {
    if (parseTimeToUs(text, p.format) === undefined) return 'bad_time';
  }
  return checkEnumAndPattern(p, text);
}

export class RowValidator {
  readonly plans: readonly ColumnPlan[];
  private reason: RejectReason | null = null;

  constructor(layout: DatasetLayout, nowMs: number) {
    this.plans = compileColumns(layout, nowMs);
  }

  /**
   * Validates one CSV row. `cellOf[declIndex]` is the cell holding each declared column (-1 when the
   * header lacks it); `expectedCells` is the header's or the declaration's width.
   */
  csvRow(cells: RowCells, cellOf: Int32Array, expectedCells: number, line: number, b: BatchBuilder): void {
    if (!cells.rowIsText()) return b.reject(line, 'bad_encoding', null, cells.rawText());
    if (cells.cellCount !== expectedCells) return b.reject(line, 'column_count', null, cells.rawText());
    const plans = this.plans;
    for (let k = 0; k < plans.length; k++) {
      const p = plans[k]!;
      const ci = cellOf[p.declIndex]!;
      let ok: boolean;
      if (ci < 0 || cells.cellIsEmpty(ci)) ok = this.storeMissing(p, b);
      else if (p.role === ROLE_TIME && p.format === undefined && b.timeText === null) {
        const us = cells.cellTimeUs(ci);
        ok = us !== undefined ? this.storeTime(p, us, '', b) : this.storeText(p, cells.cellText(ci), b);
      } else if (p.role === ROLE_FIELD)
        ok = this.storeField(p, cells.cellNumber(ci), p.enumValues || p.pattern ? cells.cellText(ci) : '', b);
      else ok = this.storeText(p, cells.cellText(ci), b);
      if (!ok) return b.reject(line, this.reason!, p.name, cells.rawText());
    }
    b.commit(line);
  }

  /** Validates one NDJSON object; `raw` is the line's text. */
  jsonRow(obj: Record<string, unknown>, raw: string, line: number, b: BatchBuilder): void {
    const plans = this.plans;
    for (let k = 0; k < plans.length; k++) {
      const p = plans[k]!;
      const v = Object.prototype.hasOwnProperty.call(obj, p.name) ? obj[p.name] : undefined;
      let ok: boolean;
      if (v === undefined || v === null || v === '') ok = this.storeMissing(p, b);
      else if (p.role === ROLE_PAYLOAD) {
        b.payloads[p.slot]![b.length] = canonicalJson(v);
        ok = true;
      } else if (p.role === ROLE_FIELD) {
        const num = typeof v === 'number' ? v : typeof v === 'string' ? parseDecimalText(v) : NaN;
        ok = this.storeField(p, num, p.enumValues || p.pattern ? jsonScalarText(v) : '', b);
      } else if (p.role === ROLE_TIME && typeof v === 'number') {
        ok = this.storeTime(p, epochNumberToUs(v), String(v), b);
      } else ok = this.storeText(p, jsonScalarText(v), b);
      if (!ok) return b.reject(line, this.reason!, p.name, truncateRaw(raw));
    }
    b.commit(line);
  }

  private fail(reason: RejectReason): false {
    this.reason = reason;
    return false;
  }

  private storeMissing(p: ColumnPlan, b: BatchBuilder): boolean {
    if (p.role === ROLE_KEY) return this.fail('missing_key');
    if (p.required) return this.fail('missing_value');
    const i = b.length;
    switch (p.role) {
      case ROLE_TIME:
        b.timeUs![i] = NaN;
        if (b.timeText !== null) b.timeText[i] = '';
        break;
      case ROLE_FIELD:
        b.fields[p.slot]![i] = NaN;
        break;
      case ROLE_PAYLOAD:
        b.payloads[p.slot]![i] = null;
        break;
      default:
        b.attributes[p.slot]![i] = null;
    }
    return true;
  }

  private storeField(p: ColumnPlan, v: number, text: string, b: BatchBuilder): boolean {
    const r = checkNumber(p, v) ?? checkEnumAndPattern(p, text);
    if (r !== null) return this.fail(r);
    b.fields[p.slot]![b.length] = v;
    return true;
  }

  private storeTime(p: ColumnPlan, us: number | undefined, text: string, b: BatchBuilder): boolean {
    if (us === undefined) return this.fail('bad_time');
    if (us < p.minUs || us > p.maxUs) return this.fail('time_out_of_window');
    b.timeUs![b.length] = us;
    if (b.timeText !== null) b.timeText[b.length] = text;
    return true;
  }

  private storeText(p: ColumnPlan, text: string, b: BatchBuilder): boolean {
    const i = b.length;
    switch (p.role) {
      case ROLE_TIME:
        return this.storeTime(p, parseTimeToUs(text, p.format), text, b);
      case ROLE_PAYLOAD: {
        const canonical = canonicalizeJsonText(text);
        if (canonical === undefined) return this.fail('bad_json');
        b.payloads[p.slot]![i] = canonical;
        return true;
      }
      case ROLE_FIELD:
        return this.storeField(p, parseDecimalText(text), text, b);
      default: {
        let value = text;
        if (p.type === 'json') {
          const canonical = canonicalizeJsonText(text);
          if (canonical === undefined) return this.fail('bad_json');
          value = canonical;
        }
        const r = checkText(p, value);
        if (r !== null) return this.fail(r);
        // U+001F joins the values of a composite key in stores, so a key may not contain it.
        if (p.role === ROLE_KEY && value.includes('\u001f')) return this.fail('bad_key');
        if (p.role === ROLE_KEY) b.keys[p.slot]![i] = value;
        else b.attributes[p.slot]![i] = value;
        return true;
      }
    }
  }
}

/** NDJSON values for text columns: strings as they are, numbers and booleans as text, the rest as JSON. */
function jsonScalarText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return canonicalJson(v);
}

export function truncateRaw(raw: string): string {
  return raw.length > 4096 ? raw.slice(0, 4096) : raw;
}

import { datasetSchema, layoutOf, type DatasetLayout } from '../core/dataset.js';
import type { RejectReason } from '../core/errors.js';

/**
 * Generates `device_id,timestamp,value` CSV in chunks, with a chosen share of invalid rows spread
 * across every reason the `readings` dataset can produce. It records the line and reason of each bad
 * row, so tests and benchmarks can check a report exactly. Deterministic for a given seed.
 */
export interface ReadingsFileOptions {
  rows: number;
  /** Share of rows made invalid, 0..1. */
  invalidShare?: number;
  devices?: number;
  seed?: number;
  /** First timestamp, ms since the epoch. */
  startMs?: number;
  /** Time between consecutive rows, ms (default 1000); the file spans rows × stepMs. */
  stepMs?: number;
  /** Rows per yielded chunk. */
  chunkRows?: number;
}

/** The layout of the readings this module generates, with content dedup (as the shipped config). */
export function readingsLayout(): DatasetLayout {
  return layoutOf(
    datasetSchema.parse({
      name: 'readings',
      dedup: 'content',
      columns: [
        { name: 'device_id', type: 'string', role: 'key', required: true },
        { name: 'timestamp', type: 'time', role: 'time' },
        { name: 'value', type: 'number', role: 'field', required: true },
      ],
    }),
  );
}

export const READINGS_INVALID_KINDS: readonly RejectReason[] = [
  'column_count',
  'missing_key',
  'missing_value',
  'not_a_number',
  'bad_time',
  'time_out_of_window',
  'bad_encoding',
  'line_too_long',
];

export interface ReadingsFileExpectation {
  rows: number;
  valid: number;
  invalid: number;
  byReason: Record<string, number>;
  /** Line number (1-based, header is line 1) → reason. */
  lines: Map<number, RejectReason>;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** A bad row of the given kind (no trailing newline). */
function badRow(kind: RejectReason, device: string, iso: string): string {
  switch (kind) {
    case 'column_count':
      return `${device},${iso}`;
    case 'missing_key':
      return `,${iso},1.0`;
    case 'missing_value':
      return `${device},${iso},`;
    case 'not_a_number':
      return `${device},${iso},12.3.4`;
    case 'bad_time':
      return `${device},not-a-time,1.0`;
    case 'time_out_of_window':
      return `${device},1970-01-01T00:00:00Z,1.0`;
    case 'bad_encoding':
      return `${device},${iso},\u0000\u0000`;
    case 'line_too_long':
      return `${device},${iso},${'9'.repeat(1024 * 1024 + 1)}`;
    default:
      throw new Error(`no generator for ${kind}`);
  }
}

/** Yields the file in chunks; `expect` is filled in as rows are produced. */
export function* readingsFile(
  opts: ReadingsFileOptions,
  expect?: ReadingsFileExpectation,
): Generator<string> {
  const rand = rng(opts.seed ?? 42);
  const devices = opts.devices ?? 1000;
  const share = opts.invalidShare ?? 0;
  const startMs = opts.startMs ?? Date.parse('2025-01-01T00:00:00Z');
  const chunkRows = opts.chunkRows ?? 50_000;
  const stepMs = opts.stepMs ?? 1000;
  let out = 'device_id,timestamp,value\n';
  for (let i = 0; i < opts.rows; i++) {
    const line = i + 2;
    const device = `dev-${(i * 7919) % devices}`;
    const iso = new Date(Math.floor(startMs + i * stepMs)).toISOString();
    if (share > 0 && rand() < share) {
      // line_too_long rows are 1 MiB each: keep them rare so files stay small.
      let kind = READINGS_INVALID_KINDS[Math.floor(rand() * READINGS_INVALID_KINDS.length)]!;
      if (kind === 'line_too_long' && (expect?.byReason.line_too_long ?? 0) >= 3) kind = 'not_a_number';
      out += badRow(kind, device, iso) + '\n';
      if (expect) {
        expect.invalid++;
        expect.byReason[kind] = (expect.byReason[kind] ?? 0) + 1;
        expect.lines.set(line, kind);
      }
    } else {
      out += `${device},${iso},${(rand() * 100 - 20).toFixed(3)}\n`;
      if (expect) expect.valid++;
    }
    if (expect) expect.rows++;
    if ((i + 1) % chunkRows === 0) {
      yield out;
      out = '';
    }
  }
  if (out) yield out;
}

export function newExpectation(): ReadingsFileExpectation {
  return { rows: 0, valid: 0, invalid: 0, byReason: {}, lines: new Map() };
}

import { RESOLUTION_US, type RollupResolution } from '../../apply/rollups/rollup-cell.js';
import { SluiceError } from '../../core/errors.js';
import type { RollupSegment } from '../../store/series-store.js';
import { requireWindowOrder } from '../query-params.js';

const MINUTE = RESOLUTION_US['1m'];
const HOUR = RESOLUTION_US['1h'];
const DAY = RESOLUTION_US['1d'];

const floorTo = (t: number, w: number): number => Math.floor(t / w) * w;
const ceilTo = (t: number, w: number): number => Math.ceil(t / w) * w;

export interface RollupWindow {
  /** The window actually covered: the request's, widened to whole minutes. */
  fromUs: number;
  toUs: number;
  segments: RollupSegment[];
}

/**
 * Covers [fromUs, toUs) with rollup buckets: 1-minute buckets at the ragged edges, 1-hour ones up to
 * the day boundaries, 1-day ones in between, so a 30-day window reads about 30 + 2·23 + 2·59 rows per
 * series instead of 43,200. The window is widened to whole minutes, the finest rollup there is.
 */
export function planWindow(fromUs: number, toUs: number): RollupWindow {
  requireWindowOrder(fromUs, toUs);
  const a = floorTo(fromUs, MINUTE);
  const b = ceilTo(toUs, MINUTE);
  const segments: RollupSegment[] = [];
  const push = (resolution: RollupResolution, from: number, to: number): void => {
    if (to > from) segments.push({ resolution, fromUs: from, toUs: to });
  };
  const h1 = ceilTo(a, HOUR);
  const h2 = floorTo(b, HOUR);
  if (h1 >= h2) {
    push('1m', a, b);
    return { fromUs: a, toUs: b, segments };
  }
  push('1m', a, h1);
  const d1 = ceilTo(h1, DAY);
  const d2 = floorTo(h2, DAY);
  if (d1 >= d2) push('1h', h1, h2);
  else {
    push('1h', h1, d1);
    push('1d', d1, d2);
    push('1h', d2, h2);
  }
  push('1m', h2, b);
  return { fromUs: a, toUs: b, segments };
}

/**
 * Buckets of `stepUs` over [fromUs, toUs) read from the coarsest resolution that divides the step and
 * the window's ends; the window is widened to whole steps.
 */
export function planStepped(fromUs: number, toUs: number, stepUs: number): RollupWindow {
  requireWindowOrder(fromUs, toUs);
  if (!(stepUs >= MINUTE) || stepUs % MINUTE !== 0)
    throw new SluiceError('bad_query', `'step' must be a whole number of minutes (rollups start at 1m)`);
  const a = floorTo(fromUs, stepUs);
  const b = ceilTo(toUs, stepUs);
  const resolution: RollupResolution =
    stepUs % DAY === 0 && a % DAY === 0 ? '1d' : stepUs % HOUR === 0 && a % HOUR === 0 ? '1h' : '1m';
  return { fromUs: a, toUs: b, segments: [{ resolution, fromUs: a, toUs: b }] };
}

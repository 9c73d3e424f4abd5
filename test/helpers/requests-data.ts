/**
 * Request-log rows for the `requests` dataset (request_id, timestamp, user_id, endpoint,
 * status_code, latency_ms), and the figures the analytics endpoints must return, computed here
 * straight from the rows.
 */
export interface RequestRow {
  requestId: string;
  timeMs: number;
  user: string;
  endpoint: string;
  status: string;
  latency: number;
}

const ENDPOINTS = ['/login', '/search', '/cart', '/checkout', '/items', '/profile', '/health'];
const STATUSES = ['200', '200', '200', '201', '404', '500'];

/** Deterministic rows spread over [startMs, startMs + spanMs), times distinct, skewed endpoints. */
export function requestRows(count: number, startMs: number, spanMs: number, seed = 1): RequestRow[] {
  let x = seed >>> 0 || 1;
  const rand = (): number => {
    // xorshift32: deterministic and independent of Math.random.
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
  const rows: RequestRow[] = [];
  const stride = Math.max(1, Math.floor(spanMs / count));
  for (let i = 0; i < count; i++) {
    // Squaring skews the pick toward the first endpoints, so top-K has a clear order.
    const e = Math.floor(rand() * rand() * ENDPOINTS.length);
    rows.push({
      requestId: `req-${seed}-${i}`,
      timeMs: startMs + i * stride,
      user: `user-${Math.floor(rand() * 40)}`,
      endpoint: ENDPOINTS[e]!,
      status: STATUSES[Math.floor(rand() * STATUSES.length)]!,
      latency: Math.round((5 + e * 20 + rand() * 300) * 100) / 100,
    });
  }
  return rows;
}

export function requestsCsv(rows: readonly RequestRow[]): string {
  const lines = ['request_id,timestamp,user_id,endpoint,status_code,latency_ms'];
  for (const r of rows)
    lines.push(
      `${r.requestId},${new Date(r.timeMs).toISOString()},${r.user},${r.endpoint},${r.status},${r.latency}`,
    );
  return `${lines.join('\n')}\n`;
}

export interface GroupFigures {
  count: number;
  mean: number;
  max: number;
  values: number[];
}

/** Per endpoint (or another column) over [fromMs, toMs). */
export function figuresBy(
  rows: readonly RequestRow[],
  column: 'endpoint' | 'user' | 'status' = 'endpoint',
  fromMs = -Infinity,
  toMs = Infinity,
): Map<string, GroupFigures> {
  const out = new Map<string, GroupFigures>();
  for (const r of rows) {
    if (r.timeMs < fromMs || r.timeMs >= toMs) continue;
    const k = r[column];
    let g = out.get(k);
    if (!g) out.set(k, (g = { count: 0, mean: 0, max: -Infinity, values: [] }));
    g.count++;
    g.values.push(r.latency);
    g.max = Math.max(g.max, r.latency);
  }
  for (const g of out.values()) g.mean = g.values.reduce((a, b) => a + b, 0) / g.count;
  return out;
}

/** Expected top-K: largest first, ties to the smaller key. */
export function expectedTopK(
  figures: Map<string, GroupFigures>,
  by: 'count' | 'mean' | 'max',
  k: number,
): { key: string; value: number }[] {
  return [...figures.entries()]
    .map(([key, g]) => ({ key, value: g[by] }))
    .sort((a, b) => b.value - a.value || (a.key < b.key ? -1 : 1))
    .slice(0, k);
}

/** Daily totals and average latency per UTC date, from the rows. */
export function dailyFigures(rows: readonly RequestRow[]): Map<string, { total: number; average: number }> {
  const sums = new Map<string, { total: number; sum: number }>();
  for (const r of rows) {
    const d = new Date(r.timeMs).toISOString().slice(0, 10);
    const s = sums.get(d) ?? { total: 0, sum: 0 };
    s.total++;
    s.sum += r.latency;
    sums.set(d, s);
  }
  return new Map([...sums].map(([d, s]) => [d, { total: s.total, average: s.sum / s.total }]));
}

/** Exact quantile like DuckDB's quantile_cont. */
export function quantileOf(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = q * (s.length - 1);
  const i = Math.floor(pos);
  return i + 1 < s.length ? s[i]! + (pos - i) * (s[i + 1]! - s[i]!) : s[i]!;
}

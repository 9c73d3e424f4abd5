/**
 * API request-log events for the shipped `requests` dataset, as NDJSON bodies of `batch` events:
 * `{"request_id","timestamp" (epoch ms),"user_id","endpoint","status_code","latency_ms"}`. Endpoint
 * popularity is skewed (a few endpoints take most traffic, as in real logs), times are one per
 * millisecond from `startMs` so no two events are duplicates, and the output depends only on the options.
 */
export interface RequestEventsOptions {
  events: number;
  batch: number;
  startMs: number;
  users?: number;
  endpoints?: number;
  seed?: number;
}

export const STATUS_CODES = ['200', '200', '200', '200', '200', '200', '201', '204', '400', '404', '500'];

export function* requestEvents(opts: RequestEventsOptions): Generator<Buffer> {
  const users = opts.users ?? 10_000;
  const endpoints = Array.from({ length: opts.endpoints ?? 50 }, (_, i) => `/api/v1/resource-${i}`);
  let s = opts.seed ?? 7;
  const rand = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  for (let from = 0; from < opts.events; from += opts.batch) {
    const to = Math.min(opts.events, from + opts.batch);
    let text = '';
    for (let i = from; i < to; i++) {
      // Squaring a uniform draw skews towards the first endpoints.
      const r = rand();
      const endpoint = endpoints[Math.floor(r * r * endpoints.length)];
      const status = STATUS_CODES[Math.floor(rand() * STATUS_CODES.length)];
      const latency = Math.round((5 + rand() * rand() * 500) * 10) / 10;
      text +=
        `{"request_id":"req-${i}","timestamp":${opts.startMs + i},"user_id":"user-${Math.floor(rand() * users)}",` +
        `"endpoint":"${endpoint}","status_code":"${status}","latency_ms":${latency}}\n`;
    }
    yield Buffer.from(text);
  }
}

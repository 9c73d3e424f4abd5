import http from 'node:http';
import type { Clock } from '../connectors/clock.js';
import { SimHttpServer, send } from './sim-http-server.js';
import { PacketStore, type PacketOptions } from './packet-store.js';
import { SLOT_MS, TelematicsTraffic, type TrafficOptions } from './telematics-traffic.js';

export interface TelematicsSimOptions extends TrafficOptions, PacketOptions {
  clock: Clock;
  /** Bearer token the API accepts. */
  token?: string;
  callsPerMinute?: number;
  maxPerCall?: number;
  costPerCallCents?: number;
  /** When traffic starts (clock ms); earlier than now gives a backlog at once. Default: now. */
  trafficFrom?: number;
  /** UTC dates (`YYYY-MM-DD`) with no traffic at all: a holiday. */
  quietDates?: readonly string[];
}

export interface TelematicsSimStats {
  calls: number;
  ok: number;
  empty: number;
  rate_limited: number;
  unauthorized: number;
  cost_cents: number;
  released: number;
  distinct: number;
  duplicates: number;
  /** Most calls seen in any window of 60 s (clock time), rejected ones included. */
  max_calls_per_minute: number;
}

/**
 * A telematics provider: `GET /v1/packets?since=<position>&limit=<n>` with a bearer token returns
 * `{"packets":[…],"next_cursor":"<position>"}`, at most `maxPerCall` (250) per call, for packets released
 * by now. Calls over `callsPerMinute` in any 60 s window get 429 with Retry-After; every call costs.
 * Control: `POST /control/revoke`, `/control/restore`; `GET /control/stats`.
 */
export class TelematicsSim extends SimHttpServer {
  readonly packets: PacketStore;
  private readonly traffic: TelematicsTraffic;
  private readonly clock: Clock;
  private readonly token: string;
  private readonly callsPerMinute: number;
  private readonly maxPerCall: number;
  private readonly cost: number;
  private readonly quiet: ReadonlySet<string>;
  private nextSlot: number;
  private revoked = false;
  private trafficEnd = Number.POSITIVE_INFINITY;
  /** Arrival times of accepted calls in the last minute (the cap) and of all calls (the measure). */
  private readonly accepted: number[] = [];
  private readonly arrivals: number[] = [];
  readonly stats: TelematicsSimStats = {
    calls: 0,
    ok: 0,
    empty: 0,
    rate_limited: 0,
    unauthorized: 0,
    cost_cents: 0,
    released: 0,
    distinct: 0,
    duplicates: 0,
    max_calls_per_minute: 0,
  };

  constructor(opts: TelematicsSimOptions) {
    super();
    this.clock = opts.clock;
    this.token = opts.token ?? 'sim-token';
    this.callsPerMinute = opts.callsPerMinute ?? 100;
    this.maxPerCall = opts.maxPerCall ?? 250;
    this.cost = opts.costPerCallCents ?? 0.1;
    this.quiet = new Set(opts.quietDates ?? []);
    const origin = Math.floor((opts.trafficFrom ?? opts.clock.now()) / SLOT_MS) * SLOT_MS;
    this.traffic = new TelematicsTraffic(origin, opts);
    this.packets = new PacketStore(opts);
    this.nextSlot = origin;
  }

  /** Releases nothing after `at` (the end of a replayed traffic window). */
  endTrafficAt(at: number): void {
    this.trafficEnd = at;
  }

  revoke(): void {
    this.revoked = true;
  }

  restore(): void {
    this.revoked = false;
  }

  /** Releases every packet due by `now`. */
  advance(now = this.clock.now()): void {
    const until = Math.min(now, this.trafficEnd);
    while (this.nextSlot + SLOT_MS <= until) {
      const slot = this.nextSlot;
      const n = this.traffic.countIn(slot);
      if (!this.quiet.has(new Date(slot).toISOString().slice(0, 10)))
        for (let k = 0; k < n; k++) this.packets.release(slot + ((k + 0.5) * SLOT_MS) / n);
      this.nextSlot += SLOT_MS;
    }
    this.stats.released = this.packets.length;
    this.stats.distinct = this.packets.distinct;
    this.stats.duplicates = this.packets.duplicates;
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://sim');
    if (url.pathname.startsWith('/control/')) return this.control(req.method ?? 'GET', url.pathname, res);
    if (url.pathname !== '/v1/packets') return send(res, 404, { error: 'not found' });
    const now = this.clock.now();
    this.stats.calls++;
    this.stats.cost_cents = Math.round(this.stats.calls * this.cost * 1000) / 1000;
    this.countArrival(now);
    if (this.revoked || req.headers.authorization !== `Bearer ${this.token}`) {
      this.stats.unauthorized++;
      return send(res, 401, { error: 'invalid or revoked token' });
    }
    drop(this.accepted, now - 60_000);
    if (this.accepted.length >= this.callsPerMinute) {
      this.stats.rate_limited++;
      const retryS = Math.max(1, Math.ceil((this.accepted[0]! + 60_000 - now) / 1000));
      return send(res, 429, { error: 'rate limit' }, { 'retry-after': String(retryS) });
    }
    this.accepted.push(now);
    this.advance(now);
    const since = Math.max(0, Math.floor(Number(url.searchParams.get('since') ?? '0')) || 0);
    const limit = Math.min(
      this.maxPerCall,
      Math.max(1, Number(url.searchParams.get('limit') ?? this.maxPerCall) || 1),
    );
    const end = Math.min(this.packets.length, since + limit);
    const packets = [];
    for (let i = since; i < end; i++) packets.push(this.packets.packet(i));
    this.stats.ok++;
    if (packets.length === 0) this.stats.empty++;
    send(res, 200, { packets, next_cursor: String(Math.max(since, end)) });
  }

  private control(method: string, path: string, res: http.ServerResponse): void {
    if (method === 'POST' && path === '/control/revoke') this.revoke();
    else if (method === 'POST' && path === '/control/restore') this.restore();
    else if (!(method === 'GET' && path === '/control/stats')) return send(res, 404, { error: 'not found' });
    this.advance();
    send(res, 200, { ...this.stats, revoked: this.revoked });
  }

  private countArrival(now: number): void {
    this.arrivals.push(now);
    drop(this.arrivals, now - 60_000);
    this.stats.max_calls_per_minute = Math.max(this.stats.max_calls_per_minute, this.arrivals.length);
  }
}

/** Drops times at or before `cutoff` from the front of a sorted list. */
function drop(times: number[], cutoff: number): void {
  let n = 0;
  while (n < times.length && times[n]! <= cutoff) n++;
  if (n > 0) times.splice(0, n);
}

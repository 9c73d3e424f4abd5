import http from 'node:http';
import type { Clock } from '../connectors/clock.js';
import { mulberry32 } from './random.js';
import { SimHttpServer, send } from './sim-http-server.js';

export interface MockstagramOptions {
  clock: Clock;
  /** Ids served: `firstId` … `firstId + count - 1` (others are 404). */
  firstId?: number;
  count?: number;
  /** Added response delay, in clock ms (uniform between 0 and twice this). */
  latencyMs?: number;
  /** Share of calls answered 500. */
  errorRate?: number;
  seed?: number;
}

/**
 * A profile API: `GET /api/v1/influencers/{id}` →
 * `{"pk":1000001,"username":"influencer-1000001","followerCount":57166,"followingCount":1328}`.
 * Follower counts drift and wobble with the clock, so successive samples differ. `GET /control/stats`
 * reports calls, errors and calls per id.
 */
export class MockstagramSim extends SimHttpServer {
  private readonly clock: Clock;
  private readonly firstId: number;
  private readonly count: number;
  private readonly random: () => number;
  latencyMs: number;
  errorRate: number;
  readonly stats = { calls: 0, ok: 0, errors: 0, not_found: 0 };
  /** Clock time of each call, by id, for jitter checks (kept only when `trackCalls` is set). */
  readonly callTimes = new Map<string, number[]>();
  trackCalls = false;

  constructor(opts: MockstagramOptions) {
    super();
    this.clock = opts.clock;
    this.firstId = opts.firstId ?? 1_000_000;
    this.count = opts.count ?? 1_000_000;
    this.latencyMs = opts.latencyMs ?? 0;
    this.errorRate = opts.errorRate ?? 0;
    this.random = mulberry32(opts.seed ?? 11);
  }

  /** The profile of `id` at clock time `at`. */
  profile(id: number, at: number) {
    const r = mulberry32(id);
    const base = Math.floor(1_000 + r() * 200_000);
    const growthPerHour = r() * 0.01;
    const hours = at / 3_600_000;
    const followerCount = Math.max(
      0,
      Math.round(base * (1 + growthPerHour * (hours % 1000)) + base * 0.002 * Math.sin(hours * 6 + id)),
    );
    return {
      pk: id,
      username: `influencer-${id}`,
      followerCount,
      followingCount: Math.floor(100 + r() * 2_000),
    };
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/control/stats') return send(res, 200, this.stats);
    const m = /^\/api\/v1\/influencers\/(\d+)$/.exec(path);
    if (!m) return send(res, 404, { error: 'not found' });
    const now = this.clock.now();
    this.stats.calls++;
    if (this.trackCalls) {
      const list = this.callTimes.get(m[1]!) ?? [];
      list.push(now);
      this.callTimes.set(m[1]!, list);
    }
    const id = Number(m[1]);
    const answer = () => {
      if (id < this.firstId || id >= this.firstId + this.count) {
        this.stats.not_found++;
        return send(res, 404, { error: 'no such influencer' });
      }
      if (this.random() < this.errorRate) {
        this.stats.errors++;
        return send(res, 500, { error: 'internal error' });
      }
      this.stats.ok++;
      send(res, 200, this.profile(id, now));
    };
    if (this.latencyMs > 0) setTimeout(answer, this.clock.realMs(this.random() * 2 * this.latencyMs));
    else answer();
  }
}

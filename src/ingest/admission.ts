import { TokenBucket } from 'limiter';
import type { Principal } from '../auth/keys.js';
import type { SluiceConfig } from '../config/schema.js';
import { SluiceError } from '../core/errors.js';
import type { InflightBytes } from './inflight-bytes.js';

/** Retry-After bounds, in seconds, for load answers. */
const MIN_RETRY_S = 1;
const MAX_RETRY_S = 60;

type Limits = SluiceConfig['limits'];

/**
 * Says no early, before a request costs anything: a token bucket per API key for request rate, and
 * caps on in-flight upload bytes per client (`429`) and in total (`503`), each with a Retry-After.
 * What was accepted before a cap is never dropped: the caps only refuse new work.
 */
export class Admission {
  private readonly buckets = new Map<string, TokenBucket | null>();

  constructor(
    private readonly limits: Limits,
    private readonly inflight: InflightBytes,
  ) {}

  /** Every authenticated request spends one token of its key's bucket. */
  checkRate(p: Principal): void {
    const bucket = this.bucketOf(p);
    if (!bucket || bucket.tryRemoveTokens(1)) return;
    const perSecond = bucket.tokensPerInterval;
    throw new SluiceError('rate_limited', `The key is limited to ${perSecond} requests per second`, {
      retryAfter: Math.max(MIN_RETRY_S, Math.ceil(1 / Math.max(perSecond, 1e-9))),
    });
  }

  /** Uploads (plain and resumable) are admitted only under the in-flight caps. */
  checkUploadBytes(client: string): void {
    const mine = this.inflight.ofClient(client);
    if (mine >= this.limits.client_inflight_bytes)
      throw new SluiceError(
        'rate_limited',
        `This client has ${mine} bytes waiting to be processed (limit ${this.limits.client_inflight_bytes}); retry later`,
        { retryAfter: this.retryAfter(mine - this.limits.client_inflight_bytes) },
      );
    const total = this.inflight.total();
    if (total >= this.limits.total_inflight_bytes)
      throw new SluiceError(
        'overloaded',
        `The server has ${total} bytes waiting to be processed (limit ${this.limits.total_inflight_bytes}); retry later`,
        { retryAfter: this.retryAfter(total - this.limits.total_inflight_bytes) },
      );
  }

  private retryAfter(excess: number): number {
    const rate = this.inflight.drainRate;
    if (rate <= 0) return MIN_RETRY_S * 2;
    return Math.min(MAX_RETRY_S, Math.max(MIN_RETRY_S, Math.ceil((excess + 1) / rate)));
  }

  private bucketOf(p: Principal): TokenBucket | null {
    if (this.buckets.has(p.id)) return this.buckets.get(p.id)!;
    const rule = this.limits.rate.keys[p.id] ?? this.limits.rate.roles[p.role] ?? this.limits.rate.default;
    const bucket =
      rule.requests_per_second > 0
        ? new TokenBucket({
            bucketSize: rule.burst ?? rule.requests_per_second * 2,
            tokensPerInterval: rule.requests_per_second,
            interval: 'second',
          })
        : null;
    if (bucket) bucket.content = bucket.bucketSize;
    this.buckets.set(p.id, bucket);
    return bucket;
  }
}

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../src/alerts/alert-sink.js';
import { HolidayCalendar } from '../../src/calendar/holiday-calendar.js';
import { backoffMs, parseRetryAfter } from '../../src/connectors/backoff.js';
import type { Clock } from '../../src/connectors/clock.js';
import { CredentialVault } from '../../src/connectors/credential-vault.js';
import { FeedSchedule } from '../../src/connectors/feed-schedule.js';
import { providerHeaders, splitUrl } from '../../src/connectors/provider-call.js';
import { StoppageDetector } from '../../src/connectors/stoppage-detector.js';
import { WindowLimiter } from '../../src/connectors/window-limiter.js';
import { tempDir } from '../helpers/harness.js';

/** A clock moved by hand. */
function manualClock(start = 0): Clock & { t: number } {
  const c = {
    t: start,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += ms;
    },
    realMs: (ms: number) => ms,
  };
  return c;
}

describe('WindowLimiter', () => {
  it('never lets more than `limit` calls into any window, counting a call until window after it ends', () => {
    const clock = manualClock();
    const limiter = new WindowLimiter(3, 60_000, clock);
    const ends: (() => void)[] = [];
    for (let i = 0; i < 3; i++) ends.push(limiter.tryAcquire()!);
    expect(limiter.tryAcquire()).toBeNull();
    clock.t = 1_000;
    ends.forEach((end) => end());
    expect(limiter.nextFreeAt()).toBe(61_000);
    clock.t = 60_999;
    expect(limiter.tryAcquire()).toBeNull();
    clock.t = 61_000;
    expect(limiter.tryAcquire()).not.toBeNull();
  });

  it('waits for calls in flight, which hold their slot until they end', () => {
    const clock = manualClock();
    const limiter = new WindowLimiter(1, 1_000, clock);
    const end = limiter.tryAcquire()!;
    expect(limiter.nextFreeAt()).toBe(Number.POSITIVE_INFINITY);
    clock.t = 5_000;
    end();
    expect(limiter.nextFreeAt()).toBe(6_000);
  });
});

describe('provider calls', () => {
  it('split a URL into the origin and the path undici is given', () => {
    expect(splitUrl('http://127.0.0.1:9200/api/v1/influencers/1000001')).toEqual({
      origin: 'http://127.0.0.1:9200',
      path: '/api/v1/influencers/1000001',
    });
    expect(splitUrl('https://p.example/v1/packets?since=a%2Fb&limit=250')).toEqual({
      origin: 'https://p.example',
      path: '/v1/packets?since=a%2Fb&limit=250',
    });
    expect(splitUrl('https://p.example?since=x/y')).toEqual({
      origin: 'https://p.example',
      path: '/?since=x/y',
    });
    expect(splitUrl('http://p.example')).toEqual({ origin: 'http://p.example', path: '/' });
    expect(() => splitUrl('/relative')).toThrow();
  });

  it('send the configured headers, the credentials over them, and accept JSON', () => {
    expect(
      providerHeaders({ 'x-team': 'a', authorization: 'old' }, { header: 'authorization', value: 'new' }),
    ).toEqual({
      accept: 'application/json',
      'x-team': 'a',
      authorization: 'new',
    });
    expect(providerHeaders({}, null)).toEqual({ accept: 'application/json' });
  });
});

describe('backoff', () => {
  it('jitters under a capped exponential and never undercuts Retry-After', () => {
    for (let attempt = 0; attempt < 10; attempt++) {
      const d = backoffMs(attempt, { baseMs: 1_000, maxMs: 60_000 });
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(Math.min(60_000, 1_000 * 2 ** attempt));
    }
    expect(backoffMs(0, { baseMs: 1_000, maxMs: 60_000, retryAfterMs: 30_000 })).toBe(30_000);
    expect(parseRetryAfter('7', 0)).toBe(7_000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 0)).toBe(10_000);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
  });
});

describe('FeedSchedule', () => {
  it('re-polls at once while a full page leaves more than a page waiting, and waits for a full page otherwise', () => {
    const s = new FeedSchedule(250, 30_000);
    // A partial page after 10 s with 100 records: 10/s, so a full page (plus one σ) takes ~26.6 s.
    s.afterPage(0, 0);
    expect(s.afterPage(10_000, 100)).toBeCloseTo(((250 + Math.sqrt(250)) / 10) * 1000, -2);
    // A full page whose last record is 60 s old: ~600 waiting, poll at once.
    expect(s.afterPage(80_000, 250, 20_000)).toBe(0);
    // A full page that is nearly current: ~20 waiting, wait for the rest of a page.
    const d = s.afterPage(100_000, 250, 98_000);
    expect(d).toBeGreaterThan(20_000);
    expect(d).toBeLessThanOrEqual(30_000);
  });

  it('backs off towards the maximum interval while pages are empty', () => {
    const s = new FeedSchedule(250, 30_000);
    s.afterPage(0, 0);
    let t = 1_000;
    let last = s.afterPage(t, 250 / 2);
    for (let i = 0; i < 8; i++) {
      t += last;
      const next = s.afterPage(t, 0);
      expect(next).toBeGreaterThanOrEqual(last);
      last = next;
    }
    expect(last).toBe(30_000);
  });
});

describe('CredentialVault', () => {
  it('seals with AES-256-GCM under a generated 0600 key file, bound to the connector id', () => {
    const dir = tempDir();
    const vault = CredentialVault.open(dir, undefined);
    const sealed = vault.seal('Bearer secret-token', 'feed-a');
    expect(sealed).not.toContain('secret');
    expect(fs.statSync(path.join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
    expect(CredentialVault.open(dir, undefined).open(sealed, 'feed-a')).toBe('Bearer secret-token');
    expect(() => vault.open(sealed, 'feed-b')).toThrow();
    expect(() => CredentialVault.open(dir, 'another-key-0123456789').open(sealed, 'feed-a')).toThrow();
  });
});

describe('StoppageDetector', () => {
  const HOUR = 3_600_000;
  const setup = (holidays: HolidayCalendar) => {
    const events: AlertEvent[] = [];
    const resolved: string[] = [];
    const sink = {
      raise: (e: AlertEvent) => events.push(e),
      resolve: (_s: string, k: string) => resolved.push(k),
    };
    const d = new StoppageDetector(
      'connector:x',
      sink,
      { errorStreak: 3, pipelineStreak: 1, minSilenceMs: 10 * 60_000, minExpected: 7, holidays },
      0,
    );
    return { d, events, resolved };
  };

  it('classifies credentials at once, provider errors after a streak, and resolves on success', () => {
    const { d, events, resolved } = setup(new HolidayCalendar());
    d.providerFailed(1, 'HTTP 503');
    d.providerFailed(2, 'HTTP 503');
    expect(events).toEqual([]);
    d.providerFailed(3, 'timeout');
    d.authFailed(4, 401);
    d.authFailed(5, 401);
    expect(events.map((e) => e.kind)).toEqual(['provider_error', 'credentials']);
    expect(events[1]!.severity).toBe('critical');
    d.callSucceeded(6);
    expect(resolved.sort()).toEqual(['credentials', 'provider_error']);
    expect(d.openStoppages()).toEqual([]);
  });

  it('pages on an unexpected silence but not on a holiday, and restores its state', () => {
    const day = Date.parse('2026-07-01T00:00:00Z');
    for (const quiet of [[], ['2026-07-01']]) {
      const { d, events } = setup(new HolidayCalendar({ extraDates: quiet }));
      // An hour of ~100 records per minute (each poll reports the minute before it), then silence.
      for (let t = day - HOUR + 60_000; t <= day; t += 60_000) d.observe(t, 100);
      for (let t = day + 60_000; t <= day + HOUR; t += 60_000) {
        d.observe(t, 0);
        d.tick(t);
      }
      expect(events.map((e) => e.kind)).toEqual(quiet.length ? [] : ['no_data']);
      const copy = new StoppageDetector(
        'connector:x',
        { raise: (e) => events.push(e), resolve: () => undefined },
        {
          errorStreak: 3,
          pipelineStreak: 1,
          minSilenceMs: 600_000,
          minExpected: 7,
          holidays: new HolidayCalendar(),
        },
        day + HOUR,
        d.state,
      );
      expect(copy.openStoppages().length).toBe(quiet.length ? 0 : 1);
    }
  });
});

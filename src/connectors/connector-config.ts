import { z } from 'zod';
import { parseDuration } from '../core/duration.js';

const duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'expected a duration such as 500ms, 30s, 5m, 1h',
});

/**
 * Credentials sent with every call: a header (e.g. `authorization: Bearer …`). `value` is stored
 * encrypted and never returned by the API; `value_env` names an environment variable to read it from
 * instead, so the config file holds no secret.
 */
export const credentialsSchema = z
  .object({
    header: z.string().min(1).default('authorization'),
    value: z.string().min(1).optional(),
    value_env: z.string().min(1).optional(),
  })
  .strict();

const stoppageSchema = z
  .object({
    /** Consecutive failed calls (5xx, timeouts, network) before a `provider_error` stoppage is raised. */
    error_streak: z.number().int().min(1).default(3),
    /** Consecutive failed writes before a `pipeline_error` stoppage is raised. */
    pipeline_streak: z.number().int().min(1).default(1),
    /** Silence shorter than this is never judged (a few quiet polls are normal). */
    min_silence: duration.default('5m'),
    /** Expected records during a silence that make it a `no_data` stoppage (Poisson: 7 ⇒ p < 0.1%). */
    min_expected: z.number().positive().default(7),
    /** Holidays on which silence is normal: country (ISO 3166-1), optional state, extra quiet days. */
    holidays: z
      .object({
        country: z.string().length(2).optional(),
        state: z.string().optional(),
        extra_dates: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/)).default([]),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

const common = {
  /** Lower-case letters, digits, `-` and `_`; part of alert sources and metric labels. */
  id: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, - and _'),
  dataset: z.string().min(1),
  url: z.url(),
  credentials: credentialsSchema.optional(),
  /** Provider's call cap: at most `calls` in any window of `per`. */
  rate_limit: z
    .object({ calls: z.number().int().min(1), per: duration.default('1m') })
    .strict()
    .optional(),
  /** Price of one call, empty or not, in cents. */
  cost_per_call: z.number().min(0).default(0),
  /** Spend at most `cents` in any window of `per`. */
  budget: z
    .object({ cents: z.number().positive(), per: duration.default('1h') })
    .strict()
    .optional(),
  /** Socket timeout of one call. */
  timeout: duration.default('10s'),
  /** Extra request headers (not secret). */
  headers: z.record(z.string(), z.string()).default({}),
  /** Start paused (resume with POST /v1/connectors/{id}/resume). */
  paused: z.boolean().default(false),
  stoppage: stoppageSchema,
};

export const cursorFeedSchema = z
  .object({
    kind: z.literal('cursor-feed'),
    ...common,
    /** Query parameter names: `GET {url}?{since}={cursor}&{limit}={page_size}`. */
    params: z
      .object({ since: z.string().default('since'), limit: z.string().default('limit') })
      .strict()
      .prefault({}),
    page_size: z.number().int().min(1).max(100_000).default(250),
    /** Dotted paths in the response to the record array and the next cursor (`''` = the body itself). */
    records_path: z.string().default('records'),
    cursor_path: z.string().default('next_cursor'),
    /** Dotted path in a record to its availability time (epoch ms/s or ISO); drives latency figures. */
    time_path: z.string().optional(),
    initial_cursor: z.string().default(''),
    /** Highest acceptable delay from a record's availability to its storage; the schedule's bound. */
    latency_target: duration.default('60s'),
    /** Longest wait between polls when the feed is idle (defaults to half the latency target). */
    max_interval: duration.optional(),
  })
  .strict();

export const entityPollSchema = z
  .object({
    kind: z.literal('entity-poll'),
    ...common,
    /** URL template with `{id}` for the entity id. */
    url: z.string().includes('{id}'),
    entities: z.union([
      z
        .object({ range: z.object({ from: z.number().int(), count: z.number().int().min(1) }).strict() })
        .strict(),
      z.object({ list: z.array(z.string().min(1)).min(1) }).strict(),
      z.object({ dataset: z.string().min(1), key: z.string().min(1) }).strict(),
    ]),
    interval: duration.default('60s'),
    /** Calls in flight at once; sockets are kept alive and reused. */
    concurrency: z.number().int().min(1).max(4096).default(32),
    /** A sample started later than this after its slot counts as late. */
    late_after: duration.default('2s'),
    /** Dataset columns: the entity id, the sample time (the slot), and field column ← response path. */
    id_column: z.string().min(1),
    time_column: z.string().min(1),
    fields: z.record(z.string(), z.string()),
  })
  .strict();

export const connectorSchema = z.discriminatedUnion('kind', [cursorFeedSchema, entityPollSchema]);

export type CursorFeedConfig = z.infer<typeof cursorFeedSchema>;
export type EntityPollConfig = z.infer<typeof entityPollSchema>;
export type ConnectorConfig = z.infer<typeof connectorSchema>;
export type ConnectorConfigInput = z.input<typeof connectorSchema>;

/** Config section: connectors plus the key that encrypts their credentials. */
export const connectorsSectionSchema = z.array(connectorSchema).default([]);

/** The config as stored and shown: credentials reduced to whether they are set. */
export function publicConfig(c: ConnectorConfig): Record<string, unknown> {
  const { credentials, ...rest } = c;
  return { ...rest, credentials: credentials ? { header: credentials.header, set: true } : null };
}

import { z } from 'zod';
import { parseDuration } from '../core/duration.js';

/**
 * Alert rules, channels, silences and scheduled summaries. The same schemas validate `sluice.yaml`
 * (the `alerts` block) and the bodies of `POST /v1/alert-rules`, `/v1/channels` and `/v1/silences`.
 */

const duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'expected a duration such as 30s, 5m, 12h, 7d',
});
const id = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'lower-case letters, digits, _ . -');
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
const severity = z.enum(SEVERITIES);

const common = {
  id,
  severity: severity.default('warning'),
  /** Text added to the alert's description. */
  description: z.string().max(500).optional(),
  /** Channels to notify; all channels when omitted. */
  channels: z.array(id).optional(),
  labels: z.record(z.string(), z.string()).optional(),
};

export const THRESHOLD_AGGS = ['count', 'mean', 'min', 'max', 'sum', 'p95'] as const;
export const COMPARATORS = ['>', '>=', '<', '<='] as const;

const thresholdRule = z
  .object({
    ...common,
    type: z.literal('threshold'),
    dataset: z.string(),
    agg: z.enum(THRESHOLD_AGGS),
    /** Field the aggregate is over; `count` may omit it (counts rows). */
    field: z.string().optional(),
    /** Key filter: column → accepted values. */
    where: z.record(z.string(), z.array(z.string()).min(1)).optional(),
    /** Key columns that split the rule into one alert per group (none: one alert for the dataset). */
    group_by: z.array(z.string()).default([]),
    window: duration.default('5m'),
    op: z.enum(COMPARATORS),
    value: z.number(),
    /** How long the condition must hold before the alert fires. */
    for: duration.default('0s'),
  })
  .strict()
  .refine((r) => r.agg === 'count' || r.field !== undefined, {
    message: 'a threshold on mean, min, max, sum or p95 needs a field',
    path: ['field'],
  });

const invalidRatioRule = z
  .object({
    ...common,
    type: z.literal('invalid_ratio'),
    /** Dataset to watch; every dataset when omitted. */
    dataset: z.string().optional(),
    /** `upload`: each finished upload; `dataset` / `client`: rows applied over `window`. */
    per: z.enum(['upload', 'dataset', 'client']),
    /** Fires when invalid / total rows is above this. */
    ratio: z.number().min(0).max(1),
    /** Fewer rows than this never fire (a 1-of-2 upload is not a spike). */
    min_rows: z.number().int().min(1).default(100),
    window: duration.default('15m'),
  })
  .strict();

const holidays = z
  .object({
    country: z.string().optional(),
    state: z.string().optional(),
    /** Extra quiet days, YYYY-MM-DD. */
    dates: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD')).default([]),
  })
  .strict();

const deadmanRule = z
  .object({
    ...common,
    type: z.literal('deadman'),
    dataset: z.string(),
    /** `series`: one alert per key value of `group_by`; `source`: per client; `dataset`: the whole dataset. */
    per: z.enum(['series', 'source', 'dataset']).default('dataset'),
    group_by: z.array(z.string()).default([]),
    /** Silence shorter than this never fires, whatever the baseline says. */
    after: duration.default('15m'),
    /** Records the seasonal baseline must have expected during the silence (e^-7 ≈ 0.1%). */
    min_expected: z.number().positive().default(7),
    holidays: holidays.optional(),
  })
  .strict();

const anomalyRule = z
  .object({
    ...common,
    type: z.literal('anomaly'),
    dataset: z.string(),
    /** Field to watch; counts rows when omitted. */
    field: z.string().optional(),
    agg: z.enum(['count', 'mean', 'min', 'max', 'sum']).default('mean'),
    group_by: z.array(z.string()).default([]),
    /** Width of the buckets the baseline learns from. */
    bucket: duration.default('1m'),
    method: z.enum(['mad', 'ewma']).default('mad'),
    /** Robust z-score above which a bucket is anomalous. */
    sensitivity: z.number().positive().default(4),
    /** Buckets seen before the rule may fire. */
    warmup: z.number().int().min(3).default(30),
    /** Buckets the median/MAD baseline keeps. */
    history: z.number().int().min(5).max(10_000).default(240),
    direction: z.enum(['both', 'up', 'down']).default('both'),
  })
  .strict()
  .refine((r) => r.agg === 'count' || r.field !== undefined, {
    message: 'an anomaly rule on mean, min, max or sum needs a field',
    path: ['field'],
  });

export const ruleSpecSchema = z.discriminatedUnion('type', [
  thresholdRule,
  invalidRatioRule,
  deadmanRule,
  anomalyRule,
]);
export type RuleSpec = z.infer<typeof ruleSpecSchema>;
export type ThresholdRuleSpec = z.infer<typeof thresholdRule>;
export type InvalidRatioRuleSpec = z.infer<typeof invalidRatioRule>;
export type DeadmanRuleSpec = z.infer<typeof deadmanRule>;
export type AnomalyRuleSpec = z.infer<typeof anomalyRule>;

const channelCommon = {
  id,
  /** Alerts below this severity are not sent here. */
  min_severity: severity.default('info'),
  /** Also send the scheduled summaries here. */
  summaries: z.boolean().default(true),
};

const webhookChannel = z
  .object({
    ...channelCommon,
    type: z.literal('webhook'),
    url: z.url({ protocol: /^https?$/ }),
    headers: z.record(z.string(), z.string()).default({}),
    timeout: duration.default('5s'),
  })
  .strict();

const emailChannel = z
  .object({
    ...channelCommon,
    type: z.literal('email'),
    smtp: z
      .object({
        host: z.string(),
        port: z.number().int().min(1).max(65535).default(587),
        /** TLS from the start (port 465); otherwise STARTTLS when the server offers it. */
        secure: z.boolean().default(false),
        user: z.string().optional(),
        pass: z.string().optional(),
      })
      .strict(),
    from: z.string(),
    to: z.array(z.string()).min(1),
    timeout: duration.default('10s'),
  })
  .strict();

export const channelSpecSchema = z.discriminatedUnion('type', [webhookChannel, emailChannel]);
export type ChannelSpec = z.infer<typeof channelSpecSchema>;
export type WebhookChannelSpec = z.infer<typeof webhookChannel>;
export type EmailChannelSpec = z.infer<typeof emailChannel>;

export const silenceSpecSchema = z
  .object({
    /** Label matchers, all of which must equal the alert's: `rule`, `source`, `kind`, `severity`, `dataset`, `group` or any label. */
    matchers: z.record(z.string(), z.string()).refine((m) => Object.keys(m).length > 0, {
      message: 'a silence needs at least one matcher',
    }),
    /** RFC 3339; now when omitted. */
    starts_at: z.iso.datetime({ offset: true }).optional(),
    ends_at: z.iso.datetime({ offset: true }),
    comment: z.string().max(500).default(''),
  })
  .strict();
export type SilenceSpec = z.infer<typeof silenceSpecSchema>;

/** The `alerts` block of sluice.yaml. */
export const alertsConfigSchema = z
  .object({
    /** How often rules are evaluated. */
    evaluate_every: duration.default('30s'),
    rules: z.array(ruleSpecSchema).default([]),
    channels: z.array(channelSpecSchema).default([]),
    notify: z
      .object({
        /** Tries per notification before it counts as failed. */
        attempts: z.number().int().min(1).max(20).default(4),
        /** First retry delay; each next one doubles, with jitter. */
        backoff: duration.default('500ms'),
      })
      .strict()
      .prefault({}),
    summary: z
      .object({
        enabled: z.boolean().default(true),
        /** Cron expression (5 or 6 fields, seconds first when 6), in `timezone`. */
        cron: z.string().default('0 8 * * *'),
        timezone: z.string().default('UTC'),
        /** Period a summary covers. */
        period: duration.default('24h'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const [list, name] of [
      [c.rules, 'rules'],
      [c.channels, 'channels'],
    ] as const) {
      const seen = new Set<string>();
      list.forEach((r, i) => {
        if (seen.has(r.id))
          ctx.addIssue({ code: 'custom', path: [name, i, 'id'], message: `duplicate id ${r.id}` });
        seen.add(r.id);
      });
    }
  });
export type AlertsConfig = z.infer<typeof alertsConfigSchema>;

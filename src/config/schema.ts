import { z } from 'zod';
import { alertsConfigSchema } from '../alerts/alert-config.js';
import { connectorsSectionSchema } from '../connectors/connector-config.js';
import { BYTE_SIZE_PATTERN } from '../core/byte-size.js';
import { datasetSchema } from '../core/dataset.js';
import { parseDuration } from '../core/duration.js';

const duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'expected a duration such as 500ms, 2s, 5m, 1h',
});
const byteSize = z.string().regex(BYTE_SIZE_PATTERN, 'a size such as 512MB or 2GB');

/**
 * The whole configuration, with defaults. `sluice.yaml` is parsed against this schema, then the
 * environment overrides apply (see load.ts), and the result is frozen. docs/configuration.md
 * documents every option.
 */
/** A token bucket: sustained requests per second (0 = unlimited) and the burst it may save up. */
const rateRule = z
  .object({
    requests_per_second: z.number().min(0).default(20_000),
    /** Tokens the bucket holds; defaults to two seconds' worth. */
    burst: z.number().int().min(1).optional(),
  })
  .strict();

export const configSchema = z
  .object({
    server: z
      .object({
        port: z.number().int().min(0).max(65535).default(8080),
        host: z.string().default('0.0.0.0'),
        /** Largest JSON request body (uploads stream and are not limited by this). */
        json_body_limit: z
          .number()
          .int()
          .positive()
          .default(10 * 1024 * 1024),
        /**
         * Niceness of every thread but the event loop (Linux; 0 leaves them alone): when the cores are
         * busy, the thread that answers requests runs first.
         */
        background_niceness: z.number().int().min(0).max(19).default(10),
        /**
         * How far V8 lets a heap grow past what its last full collection kept, in percent; 0 leaves
         * V8's own choice. Fewer full collections, so fewer pauses of the event loop during ingest.
         */
        heap_growing_percent: z.number().int().min(0).max(1000).default(150),
      })
      .strict()
      .prefault({}),
    data_dir: z.string().default('./data'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Admin key secret; normally given as SLUICE_ADMIN_KEY rather than in the file. */
    admin_key: z.string().min(16).optional(),
    /** Cluster mode (PostgreSQL + NATS JetStream); not available in this version. */
    database_url: z.string().optional(),
    nats_url: z.string().optional(),
    ingest: z
      .object({
        /** Rows per batch handed from decoding to applying. */
        batch_rows: z.number().int().min(1).max(1_000_000).default(8192),
        /** Lines longer than this are rejected as line_too_long. */
        max_line_bytes: z
          .number()
          .int()
          .min(64)
          .default(1024 * 1024),
        /** Uploads decoded at the same time. */
        workers: z.number().int().min(1).max(64).default(2),
        /** Largest single upload body, in bytes (0 = no limit). */
        max_upload_bytes: z.number().int().min(0).default(0),
        /** How long finished uploads' spooled files are kept before deletion. */
        keep_files: z.enum(['never', 'always']).default('never'),
        /**
         * Bytes a client's upload is processed for per turn before another client's turn (deficit
         * round-robin). Smaller is fairer; larger wastes less re-decoding at turn boundaries.
         */
        turn_bytes: z
          .number()
          .int()
          .min(64 * 1024)
          .default(4 * 1024 * 1024),
        /**
         * Row hashes each deduplicating dataset keeps in memory (about 20 bytes each). Rows whose
         * originals left memory, or were stored before a restart, are checked against the store.
         */
        dedup_memory_rows: z.number().int().min(4096).default(4_000_000),
        /** Resumable (tus) uploads not completed within this time are removed (a duration, e.g. 24h). */
        tus_expiration: z.string().default('24h'),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        /**
         * DuckDB's buffer pool limit (e.g. `512MB`, `2GB`). Larger scans and aggregations spill to disk
         * past it; the server's memory stays predictable instead of following DuckDB's default of 80% of RAM.
         */
        duckdb_memory_limit: byteSize.default('1GB'),
        /**
         * WAL size at which DuckDB checkpoints (a size). Unset: a quarter of `duckdb_memory_limit`,
         * between 16MB and 256MB (see checkpointThresholdFor).
         */
        duckdb_checkpoint_threshold: byteSize.optional(),
        /**
         * DuckDB's worker threads, the caller's included. Unset: DuckDB's own choice, one per core.
         * Fewer leave cores to the server's JavaScript threads, at the cost of slower large scans.
         */
        duckdb_threads: z.number().int().min(1).max(1024).optional(),
        /**
         * Run the DuckDB series store (appends, rollup upkeep, queries) on a thread of its own, so its
         * work does not delay requests on the main event loop. Off: everything on one thread.
         */
        series_thread: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        /** Upload bytes received but not yet processed, per client; past it uploads get 429. */
        client_inflight_bytes: z
          .number()
          .int()
          .min(1)
          .default(2 * 1024 ** 3),
        /** The same, for all clients together; past it uploads get 503. */
        total_inflight_bytes: z
          .number()
          .int()
          .min(1)
          .default(8 * 1024 ** 3),
        /** Request rate per API key (token bucket): a default, then overrides by role and by key id. */
        rate: z
          .object({
            default: rateRule.prefault({}),
            roles: z.partialRecord(z.enum(['admin', 'writer', 'reader']), rateRule).default({}),
            keys: z.record(z.string(), rateRule).default({}),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        /**
         * Serve the seed-compatible facades (/send-data, /promotions/{id}) without a key, for
         * existing clients that cannot send one. Off by default: every endpoint but health needs a key.
         */
        open_facades: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    writes: z
      .object({
        /** Largest body of a records or line-protocol write, in bytes (after gzip decoding). */
        max_body_bytes: z
          .number()
          .int()
          .min(1024)
          .default(64 * 1024 * 1024),
        line_protocol: z
          .object({
            /** A measurement with no dataset of its name creates one from its tags and fields. */
            auto_create: z.boolean().default(true),
            /** A tag or field the dataset lacks: `reject` the line, or `drop` the value and keep the line. */
            unknown_columns: z.enum(['reject', 'drop']).default('reject'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    datasets: z.array(datasetSchema).default([]),
    rollups: z
      .object({
        /** How often applied rows are folded into the stored 1m/1h/1d rollups. */
        flush_interval: duration.default('2s'),
        /** Rows waiting for rollups (all datasets) that start a flush before the interval is up. */
        max_pending_rows: z.number().int().min(1).default(500_000),
        /**
         * Rollup levels with at most this many series (endpoints, status codes) are also kept in
         * memory, so top-K and history over them do not wait for the store; 0 keeps none.
         */
        live_series: z.number().int().min(0).default(256),
      })
      .strict()
      .prefault({}),
    stats: z
      .object({
        /**
         * How often the statistics snapshot is checkpointed to disk (and at shutdown, and before
         * retention drops data). A restart reads the checkpoint and only the rows applied after it.
         */
        checkpoint_interval: duration.default('1m'),
      })
      .strict()
      .prefault({}),
    retention: z
      .object({
        /** How often the retention job drops raw partitions and rollup buckets past their window. */
        interval: duration.default('1h'),
      })
      .strict()
      .prefault({}),
    /** Alert rules, channels and scheduled summaries (docs/alerts.md). */
    alerts: alertsConfigSchema.prefault({}),
    /** Pull connectors (docs/connectors.md). */
    connectors: connectorsSectionSchema,
    /** Key that encrypts connector credentials at rest; normally SLUICE_SECRET_KEY. */
    secret_key: z.string().min(16).optional(),
    /** Testing aids, off by default. */
    testing: z
      .object({
        /** Lets an admin switch a simulated SeriesStore outage on and off (POST /v1/testing/faults). */
        fault_injection: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.datasets.forEach((d, i) => {
      if (seen.has(d.name))
        ctx.addIssue({
          code: 'custom',
          path: ['datasets', i, 'name'],
          message: `duplicate dataset ${d.name}`,
        });
      seen.add(d.name);
    });
    const ids = new Set<string>();
    c.connectors.forEach((k, i) => {
      if (ids.has(k.id))
        ctx.addIssue({
          code: 'custom',
          path: ['connectors', i, 'id'],
          message: `duplicate connector ${k.id}`,
        });
      ids.add(k.id);
    });
  });

export type SluiceConfig = z.infer<typeof configSchema>;
export type SluiceConfigInput = z.input<typeof configSchema>;

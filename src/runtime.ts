import fs from 'node:fs';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { Applier } from './apply/applier.js';
import { ReplaceVersions } from './apply/replace-versions.js';
import { StatsCheckpoints } from './apply/stats-checkpoints.js';
import { Authenticator } from './auth/authenticator.js';
import { bootstrapAdminKey } from './auth/bootstrap.js';
import type { AlertSink } from './alerts/alert-sink.js';
import type { SluiceConfig } from './config/schema.js';
import { systemClock, type Clock } from './connectors/clock.js';
import { ConnectorHost } from './connectors/connector-host.js';
import { ConnectorMetrics } from './connectors/connector-metrics.js';
import { CredentialVault } from './connectors/credential-vault.js';
import { DatasetRegistry } from './core/dataset-registry.js';
import { SluiceError } from './core/errors.js';
import { IngestMetrics } from './ingest/ingest-metrics.js';
import { DecodePool } from './ingest/decode-pool.js';
import { UploadProcessor } from './ingest/upload-processor.js';
import { FairScheduler } from './ingest/fair-scheduler.js';
import { Admission } from './ingest/admission.js';
import { InflightBytes } from './ingest/inflight-bytes.js';
import { Spool } from './ingest/uploads/spool.js';
import { UploadLifecycle } from './ingest/uploads/upload-lifecycle.js';
import { UploadService } from './ingest/uploads/upload-service.js';
import { RecordWriter } from './ingest/record-writer.js';
import { LineProtocolWriter } from './ingest/writes/line-protocol-writer.js';
import { WriteMetrics } from './ingest/writes/write-metrics.js';
import { TusUploads } from './ingest/uploads/tus-uploads.js';
import { createBatchLog } from './log/create-batch-log.js';
import type { BatchLog } from './log/batch-log.js';
import type { Logger } from './observability/logger.js';
import { createRegistry } from './observability/metrics.js';
import { LiveRollups } from './query/analytics/live-rollups.js';
import { StatsSnapshot } from './query/stats-snapshot.js';
import { createMetaStore, createSeriesStore } from './store/create-stores.js';
import { FaultInjectingSeriesStore } from './store/fault-injecting-series-store.js';
import { ThreadedSeriesStore } from './store/worker/threaded-series-store.js';
import type { MetaStore } from './store/meta-store.js';
import type { SeriesStore } from './store/series-store.js';
import { DatasetService } from './datasets/dataset-service.js';
import { QueryService } from './query/query-service.js';
import { RetentionJob } from './apply/retention/retention-job.js';
import { durationMs } from './core/duration.js';
import { AnalyticsService } from './query/analytics/analytics-service.js';
import { Alerting } from './alerts/alerting.js';
import { BulkReader } from './query/bulk-query.js';

/** Optional collaborators of a Sluice, for wiring and tests. */
export interface SluiceOptions {
  /**
   * Where connector stoppages are raised as alerts; the alert service (`alerting.sink`) by default.
   * Tests pass a recording sink.
   */
  alertSink?: AlertSink;
  /** Time for connectors (tests and benchmarks pass a scaled clock); the wall clock by default. */
  clock?: Clock;
}

/** Batches applied in one SeriesStore transaction at most (with 8192-row batches, ~130k rows). */
const APPLY_GROUP_BATCHES = 16;

/**
 * One running Sluice: the stores, the pipeline (spool → decode → BatchLog → Applier) and the services
 * the HTTP routes call. `start` opens everything, rebuilds in-memory state, and resumes unfinished
 * uploads; `close` stops in the reverse order.
 */
export class Sluice {
  readonly registry = new DatasetRegistry();
  readonly snapshot = new StatsSnapshot();
  readonly metrics: Registry;
  readonly ingestMetrics: IngestMetrics;
  readonly meta: MetaStore;
  readonly series: SeriesStore;
  readonly batchLog: BatchLog;
  readonly auth: Authenticator;
  readonly lifecycle: UploadLifecycle;
  readonly uploads: UploadService;
  /** Resumable (tus) uploads: creation, durable progress, termination and expiry. */
  readonly tus: TusUploads;
  readonly spool: Spool;
  readonly datasets: DatasetService;
  readonly queue: FairScheduler;
  readonly inflight = new InflightBytes();
  /** Request rate per key, and caps on in-flight upload bytes (429/503 with Retry-After). */
  readonly admission: Admission;
  readonly applier: Applier;
  /** Rollup cells of the levels with few series, in memory (top-K and history without the store). */
  readonly live: LiveRollups;
  /** Rows that arrive in memory (records API, line protocol, connectors) enter the pipeline here. */
  readonly writer: RecordWriter;
  /** InfluxDB line protocol: measurements to datasets, through `writer`. */
  readonly lineProtocol: LineProtocolWriter;
  readonly writeMetrics: WriteMetrics;
  /** Reads for many keys in one store query (POST /v1/query, repeated key parameters). */
  readonly bulkReads: BulkReader;
  private readonly versions: ReplaceVersions;
  readonly queries: QueryService;
  readonly retention: RetentionJob;
  /** Top-K, history and aggregation jobs, answered from rollups. */
  readonly analytics: AnalyticsService;
  private readonly decoders = new DecodePool();
  private ready = false;
  /** Alert rules, channels, summaries and quality counters; `alerting.sink` takes other subsystems' alerts. */
  readonly alerting: Alerting;
  /** Pull connectors (docs/connectors.md). */
  readonly connectors: ConnectorHost;
  /** Set when `testing.fault_injection` is on: switches a simulated SeriesStore outage. */
  readonly faults: FaultInjectingSeriesStore | null;
  /** The series store's thread, when it runs on one (`storage.series_thread`). */
  private readonly seriesThread: ThreadedSeriesStore | undefined;

  constructor(
    readonly config: Readonly<SluiceConfig>,
    readonly log: Logger,
    opts: SluiceOptions = {},
  ) {
    if (config.database_url || config.nats_url)
      throw new SluiceError(
        'config_invalid',
        'Cluster mode (database_url / nats_url) is not available in this version; unset SLUICE_DATABASE_URL and SLUICE_NATS_URL to run embedded',
      );
    fs.mkdirSync(config.data_dir, { recursive: true });
    this.metrics = createRegistry();
    this.ingestMetrics = new IngestMetrics(this.metrics);
    this.meta = createMetaStore('sqlite', { path: path.join(config.data_dir, 'meta.sqlite') });
    const series = createSeriesStore('duckdb', {
      path: path.join(config.data_dir, 'series.duckdb'),
      memoryLimit: config.storage.duckdb_memory_limit,
      threads: config.storage.duckdb_threads,
      checkpointThreshold: config.storage.duckdb_checkpoint_threshold,
      dedupMemoryRows: config.ingest.dedup_memory_rows,
      rollups: {
        flushIntervalMs: durationMs(config.rollups.flush_interval),
        maxPendingRows: config.rollups.max_pending_rows,
      },
      metrics: this.metrics,
      log,
      thread: config.storage.series_thread ? { logLevel: config.log_level, log } : undefined,
    });
    this.seriesThread = series instanceof ThreadedSeriesStore ? series : undefined;
    this.faults = config.testing.fault_injection ? new FaultInjectingSeriesStore(series) : null;
    this.series = this.faults ?? series;
    this.batchLog = createBatchLog('local', {
      dir: path.join(config.data_dir, 'batchlog'),
      // The log retries a failing batch with backoff; say why, so a stuck pipeline is visible.
      onError: (err, batch) => log.error({ err, batch: batch?.id }, 'applying a batch failed; retrying'),
    });
    this.auth = new Authenticator(this.meta);
    const spool = new Spool(config.data_dir);
    this.spool = spool;
    const versions = new ReplaceVersions(this.meta, this.registry, this.snapshot, log);
    this.versions = versions;
    this.lifecycle = new UploadLifecycle(this.meta, versions, this.ingestMetrics, log);
    this.admission = new Admission(config.limits, this.inflight);
    this.lifecycle.onFinished((row) => {
      this.inflight.release(row.id);
      if (config.ingest.keep_files === 'never')
        spool
          .remove(row.id)
          .catch((err: unknown) =>
            log.warn({ err, upload: row.id }, 'deleting a processed upload body failed'),
          );
    });
    const processor = new UploadProcessor({
      config,
      registry: this.registry,
      meta: this.meta,
      batchLog: this.batchLog,
      spool,
      lifecycle: this.lifecycle,
      decoders: this.decoders,
      inflight: this.inflight,
      log,
    });
    this.queue = new FairScheduler(
      config.ingest.workers,
      config.ingest.turn_bytes,
      (id, budget) => processor.process(id, budget),
      (depth) => this.ingestMetrics.queueDepth.set(depth),
    );
    this.uploads = new UploadService({
      config,
      registry: this.registry,
      meta: this.meta,
      spool,
      queue: this.queue,
      lifecycle: this.lifecycle,
      metrics: this.ingestMetrics,
      inflight: this.inflight,
      log,
    });
    this.tus = new TusUploads({
      registry: this.registry,
      meta: this.meta,
      spool,
      uploads: this.uploads,
      lifecycle: this.lifecycle,
      queue: this.queue,
      metrics: this.ingestMetrics,
      inflight: this.inflight,
      log,
    });
    this.live = new LiveRollups({
      read: (layout, q) => this.series.readRollups(layout, q),
      maxSeries: config.rollups.live_series,
      log,
      metrics: this.metrics,
    });
    this.applier = new Applier({
      registry: this.registry,
      meta: this.meta,
      series: this.series,
      snapshot: this.snapshot,
      live: this.live,
      versions,
      lifecycle: this.lifecycle,
      metrics: this.ingestMetrics,
      checkpoints: new StatsCheckpoints(path.join(config.data_dir, 'stats')),
      log,
    });
    this.writer = new RecordWriter({
      registry: this.registry,
      batchLog: this.batchLog,
      applier: this.applier,
      batchRows: config.ingest.batch_rows,
      maxLineBytes: config.ingest.max_line_bytes,
      decoders: this.decoders,
    });
    const applier = this.applier;
    this.connectors = new ConnectorHost({
      meta: this.meta,
      registry: this.registry,
      writer: this.writer,
      onBatchDone: (listener) => applier.onBatchDone((batch) => listener(batch.source)),
      entities: { keysOf: (dataset, key) => this.snapshot.keysOf(dataset, key) },
      vault: CredentialVault.open(config.data_dir, config.secret_key),
      // The alert service is built below; stoppages only arise once connectors start, after it.
      sink: opts.alertSink ?? {
        raise: (event) => this.alerting.sink.raise(event),
        resolve: (source, kind, at) => this.alerting.sink.resolve(source, kind, at),
      },
      metrics: new ConnectorMetrics(this.metrics),
      clock: opts.clock ?? systemClock,
      log,
      env: process.env,
    });
    this.datasets = new DatasetService(this.registry, this.meta, this.series, this.applier);
    this.queries = new QueryService(this.registry, this.snapshot, this.meta, this.series);
    this.retention = new RetentionJob({
      series: this.series,
      registry: this.registry,
      // Statistics outlive raw rows: they are checkpointed, with nothing applied since, before a drop.
      guardDrop: (drop) => this.applier.afterCheckpoint(drop),
      onRollupsExpired: (dataset, beforeUs) => this.live.expire(dataset, beforeUs),
      log,
      metrics: this.metrics,
      intervalMs: durationMs(config.retention.interval),
    });
    this.analytics = new AnalyticsService({
      registry: this.registry,
      series: this.series,
      live: this.live,
      meta: this.meta,
      log,
    });
    this.alerting = new Alerting({
      config: config.alerts,
      registry: this.registry,
      meta: this.meta,
      series: this.series,
      applier: this.applier,
      lifecycle: this.lifecycle,
      metricsRegistry: this.metrics,
      log,
    });
    this.bulkReads = new BulkReader({
      registry: this.registry,
      snapshot: this.snapshot,
      meta: this.meta,
      series: this.series,
      queries: this.queries,
    });
    this.writeMetrics = new WriteMetrics(this.metrics);
    this.lineProtocol = new LineProtocolWriter({
      registry: this.registry,
      datasets: this.datasets,
      writer: this.writer,
      autoCreate: config.writes.line_protocol.auto_create,
      unknownColumns: config.writes.line_protocol.unknown_columns,
    });
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** Every metric in the Prometheus text format: this thread's, then the series store thread's. */
  async metricsText(): Promise<string> {
    const own = await this.metrics.metrics();
    const store = this.seriesThread;
    return store === undefined ? own : `${own}\n${await store.metricsText()}`;
  }

  async start(): Promise<void> {
    const started = Date.now();
    await this.meta.init();
    await this.series.init();
    await this.batchLog.init();
    await bootstrapAdminKey(this.meta, this.config.data_dir, this.config.admin_key, this.log);
    await this.datasets.load(this.config.datasets);
    await this.alerting.start();
    await this.applier.rebuild();
    await this.versions.sweep(await this.meta.unfinishedUploads());
    const resumed = await this.uploads.resumeUnfinished();
    this.batchLog.consumeGroups((batches) => this.applier.consume(batches), APPLY_GROUP_BATCHES);
    this.applier.startCheckpoints(durationMs(this.config.stats.checkpoint_interval));
    this.retention.start();
    await this.analytics.resume();
    await this.connectors.start(this.config.connectors);
    this.ready = true;
    this.log.info(
      {
        ms: Date.now() - started,
        datasets: this.registry.list().length,
        resumed,
        dataDir: this.config.data_dir,
      },
      'sluice ready',
    );
  }

  /** Waits until every queued upload is decoded and every logged batch applied (tests, shutdown). */
  async settle(): Promise<void> {
    await this.queue.idle();
    await this.batchLog.drained();
    if (this.series.capabilities.has('rollups')) await this.series.flushRollups();
  }

  async close(): Promise<void> {
    this.ready = false;
    this.lifecycle.abortAll();
    await this.connectors.close();
    await this.queue.idle();
    await this.decoders.close();
    await this.batchLog.close();
    await this.retention.stop();
    this.applier.stopCheckpoints();
    await this.applier
      .checkpointStats()
      .catch((err: unknown) =>
        this.log.error({ err }, 'writing the last statistics checkpoint failed; the next start rescans rows'),
      );
    await this.analytics.close();
    await this.alerting.close();
    await this.series.close();
    await this.meta.close();
  }
}

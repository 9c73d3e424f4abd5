import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DatasetRegistry } from '../../core/dataset-registry.js';
import { durationMs } from '../../core/duration.js';
import type { RetentionResult, SeriesStore } from '../../store/series-store.js';

export interface RetentionRun extends RetentionResult {
  dataset: string;
  rawBeforeUs: number;
  rollupsBeforeUs: number;
}

/**
 * The background retention job: per append-mode dataset, drops raw time partitions older than
 * `retention.raw` and rollup buckets older than `retention.rollups`. The store rolls up the rows it
 * holds before it drops their partition, so none goes while its rows still wait to be rolled up.
 */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionRun[]> | undefined;
  private readonly partitions: Counter<'dataset'>;
  private readonly rows: Counter<'dataset' | 'kind'>;
  private readonly lastRun: Gauge;
  private readonly runs: Counter<'outcome'>;

  constructor(
    private readonly deps: {
      series: SeriesStore;
      registry: DatasetRegistry;
      /** Wraps each drop (the Applier runs it right after a statistics checkpoint). */
      guardDrop?: <T>(drop: () => Promise<T>) => Promise<T>;
      /** Told of each dataset's rollup cutoff once the store dropped the buckets before it. */
      onRollupsExpired?: (dataset: string, rollupsBeforeUs: number) => void;
      log: Logger;
      metrics: Registry;
      intervalMs: number;
    },
  ) {
    const registers = [deps.metrics];
    this.partitions = new Counter({
      name: 'sluice_retention_partitions_dropped_total',
      help: 'Raw time partitions (one UTC day each) dropped by retention, by dataset',
      labelNames: ['dataset'],
      registers,
    });
    this.rows = new Counter({
      name: 'sluice_retention_rows_dropped_total',
      help: 'Rows dropped by retention, by dataset and kind (raw rows, rollup buckets)',
      labelNames: ['dataset', 'kind'],
      registers,
    });
    this.lastRun = new Gauge({
      name: 'sluice_retention_last_run_timestamp_seconds',
      help: 'When the retention job last finished a run (Unix seconds)',
      registers,
    });
    this.runs = new Counter({
      name: 'sluice_retention_runs_total',
      help: 'Retention job runs, by outcome (ok, failed)',
      labelNames: ['outcome'],
      registers,
    });
  }

  start(): void {
    if (!this.deps.series.capabilities.has('retention') || this.timer !== undefined) return;
    const tick = (): void => {
      this.run().catch((err: unknown) => this.deps.log.error({ err }, 'retention run failed'));
    };
    this.timer = setInterval(tick, this.deps.intervalMs);
    this.timer.unref();
    setImmediate(tick).unref();
  }

  stop(): Promise<unknown> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    return this.running ?? Promise.resolve();
  }

  /** One pass over every append-mode dataset, as of `nowMs`. */
  run(nowMs = Date.now()): Promise<RetentionRun[]> {
    this.running ??= this.pass(nowMs).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(nowMs: number): Promise<RetentionRun[]> {
    const { series, registry } = this.deps;
    const out: RetentionRun[] = [];
    try {
      for (const { layout } of registry.list()) {
        if (layout.spec.mode !== 'append') continue;
        const rawBeforeUs = (nowMs - durationMs(layout.spec.retention.raw)) * 1000;
        const rollupsBeforeUs = (nowMs - durationMs(layout.spec.retention.rollups)) * 1000;
        const dataset = layout.spec.name;
        const drop = async () => {
          const dropped = await series.dropExpired(layout, { rawBeforeUs, rollupsBeforeUs });
          this.deps.onRollupsExpired?.(dataset, rollupsBeforeUs);
          return dropped;
        };
        const r = await (this.deps.guardDrop ? this.deps.guardDrop(drop) : drop());
        if (r.partitionsDropped > 0) this.partitions.inc({ dataset }, r.partitionsDropped);
        if (r.rowsDropped > 0) this.rows.inc({ dataset, kind: 'raw' }, r.rowsDropped);
        if (r.rollupRowsDropped > 0) this.rows.inc({ dataset, kind: 'rollup' }, r.rollupRowsDropped);
        if (r.partitionsDropped > 0 || r.rollupRowsDropped > 0)
          this.deps.log.info({ dataset, ...r }, 'retention dropped expired data');
        out.push({ dataset, rawBeforeUs, rollupsBeforeUs, ...r });
      }
      this.runs.inc({ outcome: 'ok' });
      this.lastRun.set(Date.now() / 1000);
      return out;
    } catch (err) {
      this.runs.inc({ outcome: 'failed' });
      throw err;
    }
  }
}

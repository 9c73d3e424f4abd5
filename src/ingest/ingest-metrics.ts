import { Counter, Gauge, type Registry } from 'prom-client';

/** Ingest metrics: rows and bytes in, rejects by reason, queue depth and lag. */
export class IngestMetrics {
  readonly rows: Counter<'dataset' | 'outcome'>;
  readonly bytes: Counter<'dataset'>;
  readonly rejects: Counter<'dataset' | 'reason'>;
  readonly queueDepth: Gauge;
  readonly processingLag: Gauge;
  readonly uploads: Counter<'dataset' | 'status'>;

  constructor(registry: Registry) {
    this.rows = new Counter({
      name: 'sluice_ingested_rows_total',
      help: 'Rows applied, by dataset and outcome (valid, invalid, duplicate)',
      labelNames: ['dataset', 'outcome'],
      registers: [registry],
    });
    this.bytes = new Counter({
      name: 'sluice_ingested_bytes_total',
      help: 'Upload bytes received and made durable, by dataset',
      labelNames: ['dataset'],
      registers: [registry],
    });
    this.rejects = new Counter({
      name: 'sluice_rejected_rows_total',
      help: 'Rejected rows by dataset and reason code',
      labelNames: ['dataset', 'reason'],
      registers: [registry],
    });
    this.queueDepth = new Gauge({
      name: 'sluice_upload_queue_depth',
      help: 'Uploads waiting for a decode worker',
      registers: [registry],
    });
    this.processingLag = new Gauge({
      name: 'sluice_processing_lag_seconds',
      help: 'Age of the oldest batch decoded but not yet applied',
      registers: [registry],
    });
    this.uploads = new Counter({
      name: 'sluice_uploads_total',
      help: 'Uploads that reached a final status, by dataset and status',
      labelNames: ['dataset', 'status'],
      registers: [registry],
    });
  }
}

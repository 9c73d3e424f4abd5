import { Counter, type Registry } from 'prom-client';

/** Which write API a request came through. */
export type WriteApi = 'records' | 'influx_v2' | 'influx_v1';

/**
 * Metrics of the write APIs (records, line protocol). Rows they write are also counted, with uploads,
 * by the Applier's `sluice_ingested_rows_total`.
 */
export class WriteMetrics {
  readonly requests: Counter<'api' | 'status'>;
  readonly bytes: Counter<'api'>;
  readonly lines: Counter<'outcome'>;
  readonly autoCreated: Counter;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'sluice_write_requests_total',
      help: 'Write requests (records API, InfluxDB line protocol) by API and HTTP status',
      labelNames: ['api', 'status'],
      registers: [registry],
    });
    this.bytes = new Counter({
      name: 'sluice_write_bytes_total',
      help: 'Body bytes of write requests, after gzip decoding, by API',
      labelNames: ['api'],
      registers: [registry],
    });
    this.lines = new Counter({
      name: 'sluice_line_protocol_lines_total',
      help: 'Line-protocol points by outcome: written (stored or a duplicate of a stored one) or rejected',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.autoCreated = new Counter({
      name: 'sluice_line_protocol_datasets_created_total',
      help: 'Datasets created for new line-protocol measurements',
      registers: [registry],
    });
  }
}

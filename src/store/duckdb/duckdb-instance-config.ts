import { parseByteSize } from '../../core/byte-size.js';

const MB = 1e6;

/** The settings a DuckDB instance opens with; DuckDB's own defaults for what is left out. */
export function instanceConfig(opts: {
  threads?: number;
  memoryLimit?: string;
  checkpointThreshold?: string;
}): Record<string, string> {
  const config: Record<string, string> = {};
  if (opts.threads !== undefined) config['threads'] = String(opts.threads);
  if (opts.memoryLimit !== undefined) config['memory_limit'] = opts.memoryLimit;
  config['checkpoint_threshold'] = opts.checkpointThreshold ?? checkpointThresholdFor(opts.memoryLimit);
  return config;
}

/**
 * The WAL size at which DuckDB checkpoints, unless configured: a quarter of the memory limit, between
 * 16MB (DuckDB's own default) and 256MB; 256MB without a limit. Rows in the WAL are also held in
 * memory until the checkpoint, hence the tie to the limit. Larger is faster: each checkpoint costs
 * more than its rows (in a 10M-row ingest, 2 checkpoints at 256MB took 4.2 s where 9 at 64MB took
 * 8.8 s), and it stalls appends while it runs. The price is memory and a longer WAL replay after a
 * crash. DuckDB reads MB as 10^6 bytes.
 */
export function checkpointThresholdFor(memoryLimit: string | undefined): string {
  const limit = memoryLimit === undefined ? undefined : parseByteSize(memoryLimit);
  const bytes = limit === undefined ? 256 * MB : Math.min(256 * MB, Math.max(16 * MB, limit / 4));
  return `${Math.floor(bytes / MB)}MB`;
}

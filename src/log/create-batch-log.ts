import { SluiceError } from '../core/errors.js';
import type { ColumnarBatch } from '../core/batch.js';
import type { BatchLog } from './batch-log.js';
import { LocalBatchLog } from './local/local-batch-log.js';

/** BatchLog factory: one adapter per name; unknown names are a config error. */
export function createBatchLog(
  kind: string,
  opts: { dir: string; onError?: (err: unknown, batch: ColumnarBatch | null) => void },
): BatchLog {
  switch (kind) {
    case 'local':
      return new LocalBatchLog(opts);
    default:
      throw new SluiceError('config_invalid', `Unknown BatchLog '${kind}' (available: local)`);
  }
}

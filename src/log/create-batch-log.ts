import { SluiceError } from '../core/errors.js';
import type { BatchLog } from './batch-log.js';
import { LocalBatchLog } from './local/local-batch-log.js';

/** BatchLog factory: one adapter per name; unknown names are a config error. */
export function createBatchLog(kind: string, opts: { dir: string }): BatchLog {
  switch (kind) {
    case 'local':
      return new LocalBatchLog(opts);
    default:
      throw new SluiceError('config_invalid', `Unknown BatchLog '${kind}' (available: local)`);
  }
}

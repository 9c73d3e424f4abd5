import { SluiceError } from '../../core/errors.js';

/** The batch log's error for failed file operations: the caller may retry once storage recovers. */
export function unavailable(message: string, cause: unknown): SluiceError {
  return new SluiceError('store_unavailable', message, { cause });
}

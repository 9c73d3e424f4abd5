import Database from 'better-sqlite3';
import { SluiceError } from '../../core/errors.js';

/**
 * SQLite result codes that describe the storage, not the request: a lock held too long, a full or
 * failing disk, a file that cannot be opened. They become `store_unavailable`, which callers retry.
 * Everything else (constraint violations, SQL errors) is a bug and stays loud.
 */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|PROTOCOL|NOMEM)/;

/** True for a SQLite result code that means the storage, not the request, failed. */
export function isUnavailableCode(code: string): boolean {
  return UNAVAILABLE.test(code);
}

export function toStoreError(e: unknown): unknown {
  if (e instanceof Database.SqliteError && isUnavailableCode(e.code)) {
    return new SluiceError('store_unavailable', `SQLite: ${e.message}`, {
      cause: e,
      details: { code: e.code },
    });
  }
  return e;
}

/** Runs a synchronous store call, translating storage failures into retriable SluiceErrors. */
export function guarded<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toStoreError(e);
  }
}

/** `guarded` for a call that awaits (the version-build thread, chunked scans). */
export async function guardedAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toStoreError(e);
  }
}

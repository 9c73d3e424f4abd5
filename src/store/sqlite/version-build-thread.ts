import { parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { isSluiceError } from '../../core/errors.js';
import { lowerThisThreadPriority } from '../../core/thread-priority.js';
import { decodeBatch } from '../../log/local/batch-decoder.js';
import type { VersionFailure, VersionReply, VersionRequest } from './version-build-protocol.js';
import { openVersionWriter, removeVersionFiles } from './version-files.js';
import { VersionWriter } from './version-writer.js';

/**
 * The version-build thread: owns the write connections of replace-mode versions being built, so the
 * synchronous SQLite inserts of a snapshot (about 10 ms per 8192-row batch) run beside the event loop
 * that serves lookups instead of on it. Requests are handled one at a time, in arrival order.
 */
const port = parentPort!;
// Building may take all the CPU it is left, but lookups on the event loop come first.
lowerThisThreadPriority();
/** Open write connections by version file. */
const writers = new Map<string, VersionWriter>();

port.on('message', (msg: VersionRequest) => {
  let reply: VersionReply;
  try {
    reply = { id: msg.id, ok: true, ...handle(msg) };
  } catch (err) {
    reply = { id: msg.id, ok: false, error: failure(err) };
  }
  const keep = reply.ok ? reply.result?.keep : undefined;
  port.postMessage(reply, keep ? [keep.buffer as ArrayBuffer] : []);
});

function handle(msg: VersionRequest): Omit<Extract<VersionReply, { ok: true }>, 'id' | 'ok'> {
  switch (msg.type) {
    case 'begin':
      if (!writers.has(msg.file)) writers.set(msg.file, writerOver(openVersionWriter(msg.file, msg.shape)));
      return {};
    case 'apply': {
      const batch = decodeBatch(msg.payload);
      return { result: writerFor(msg.file).apply(batch) };
    }
    case 'seal':
      closeWriter(msg.file);
      return {};
    case 'discard':
      closeWriter(msg.file);
      removeVersionFiles(msg.file);
      return {};
    case 'close':
      for (const file of [...writers.keys()]) closeWriter(file);
      return {};
  }
}

/** The open writer of a version, reopened after a restart (the build resumes into the same file). */
function writerFor(file: string): VersionWriter {
  let writer = writers.get(file);
  if (writer === undefined) {
    writer = writerOver(openVersionWriter(file));
    writers.set(file, writer);
  }
  return writer;
}

function writerOver(db: Database.Database): VersionWriter {
  try {
    return new VersionWriter(db);
  } catch (e) {
    db.close();
    throw e;
  }
}

function closeWriter(file: string): void {
  const writer = writers.get(file);
  if (writer === undefined) return;
  writers.delete(file);
  writer.close();
}

function failure(err: unknown): VersionFailure {
  const message = err instanceof Error ? err.message : String(err);
  if (isSluiceError(err)) return { message, code: err.code };
  if (err instanceof Database.SqliteError) return { message, sqlite: err.code };
  return { message };
}

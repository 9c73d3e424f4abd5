import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/**
 * Checkpoints meta.sqlite's write-ahead log from a connection of its own, every `intervalMs`, so the
 * main thread's commits never pay for a checkpoint (copying WAL pages into the database and syncing
 * it took 10-30 ms on the event loop). PASSIVE never waits for a lock: frames a reader still needs
 * stay for the next round.
 */
const { file, intervalMs } = workerData as { file: string; intervalMs: number };
const db = new Database(file);
db.pragma('busy_timeout = 0');

const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or locked: the next round tries again, and the writer's own checkpoint is the backstop.
  }
}, intervalMs);

parentPort!.on('message', (msg: 'stop') => {
  if (msg !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort!.postMessage('stopped');
});

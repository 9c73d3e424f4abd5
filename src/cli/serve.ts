import { loadConfig } from '../config/load.js';
import { setHeapGrowingPercent } from '../core/heap-growth.js';
import { keepOtherThreadsLow } from '../core/thread-priority.js';
import { buildApp } from '../http/app.js';
import { createLogger } from '../observability/logger.js';
import { Sluice } from '../runtime.js';

/** `sluice serve`: the embedded-mode server until SIGINT/SIGTERM. */
export async function serve(): Promise<void> {
  const { config, file } = loadConfig();
  // Before the store and the decoders start their threads and the heap grows.
  setHeapGrowingPercent(config.server.heap_growing_percent);
  const log = createLogger(config.log_level);
  log.info({ config: file ?? '(defaults)' }, 'starting');
  const sluice = new Sluice(config, log);
  await sluice.start();
  // After start, so the database's threads and the decoders exist; later ones are caught by the timer.
  const stopLowering = keepOtherThreadsLow(config.server.background_niceness);
  const app = await buildApp({ sluice });
  const address = await app.listen({ port: config.server.port, host: config.server.host });
  log.info({ address, docs: `${address}/docs` }, 'listening');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await app.close();
    stopLowering();
    await sluice.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

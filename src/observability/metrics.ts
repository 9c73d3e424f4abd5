import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * One registry per running instance (tests run several in one process). Modules define their own
 * metrics next to their code and register them here.
 */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sluice_' });
  return registry;
}

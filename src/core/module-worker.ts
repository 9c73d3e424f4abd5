import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread running the module `<name>.js` (built) or `<name>.ts` (run through tsx in
 * development and tests) that sits beside the module at `from` (its `import.meta.url`).
 */
export function startModuleWorker(from: string, name: string, options: WorkerOptions = {}): Worker {
  if (from.endsWith('.js')) return new Worker(new URL(`./${name}.js`, from), options);
  const entry = JSON.stringify(new URL(`./${name}.ts`, from).href);
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${entry}); });`;
  return new Worker(boot, { ...options, eval: true });
}

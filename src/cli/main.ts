#!/usr/bin/env node
import { Command } from 'commander';
import { createKey } from './keys.js';
import { serve } from './serve.js';
import { simMockstagram, simTelematics } from './sim.js';
import { upload } from './upload.js';

const program = new Command('sluice').description(
  'Ingest, validate, store and query telemetry and event data',
);

program
  .command('serve')
  .description('run the server (config: SLUICE_CONFIG or ./sluice.yaml; see docs/configuration.md)')
  .action(serve);

program
  .command('upload <file>')
  .description(
    'upload a CSV or NDJSON file, show progress, then print the processing report; large files are resumable (tus)',
  )
  .requiredOption('-d, --dataset <name>', 'dataset to upload to')
  .option('--url <url>', 'server URL (default SLUICE_URL or http://127.0.0.1:8080)')
  .option('--key <key>', 'API key (default SLUICE_KEY, or the admin key in ./data/admin.key)')
  .option('--idempotency-key <key>', 'make a retry of this upload count once')
  .option('--no-wait', 'return once the bytes are accepted, without waiting for processing')
  .option('--resume', "continue this file's unfinished upload from an earlier run (implies tus)")
  .option(
    '--tus-threshold <bytes>',
    'files of at least this size are sent resumably with tus',
    String(8 * 1024 * 1024),
  )
  .option('--chunk-size <bytes>', 'bytes per tus PATCH request', String(32 * 1024 * 1024))
  .action(upload);

const keys = program.command('keys').description('manage API keys');
keys
  .command('create')
  .description('create an API key and print its secret once')
  .requiredOption('-r, --role <role>', 'admin | writer | reader')
  .option('-n, --name <name>', 'a name to recognise the key by')
  .option('--dataset <name...>', 'limit the key to these datasets')
  .option('--url <url>', 'server URL')
  .option('--key <key>', 'admin API key')
  .action(createKey);

const sim = program.command('sim').description('run a provider simulator (for demos, tests and benchmarks)');
sim
  .command('telematics')
  .description('packet API: 100 calls/min (429 beyond), 250 packets per call, bursty traffic, duplicates')
  .option('--port <port>', 'port to listen on', '9100')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--token <token>', 'bearer token the API accepts', 'sim-token')
  .option('--scale <x>', 'multiply traffic rates (mean 200/s, bursts 1,000-10,000/s)', '1')
  .option('--calls-per-minute <n>', 'rate cap', '100')
  .option('--max-per-call <n>', 'packets per call at most', '250')
  .option('--seed <n>', 'random seed', '1')
  .option('--quiet-date <YYYY-MM-DD...>', 'UTC dates without traffic (a holiday)')
  .action(simTelematics);
sim
  .command('mockstagram')
  .description('influencer profile API: GET /api/v1/influencers/{id}')
  .option('--port <port>', 'port to listen on', '9200')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--count <n>', 'influencers served, from id 1000000', '1000000')
  .option('--latency-ms <ms>', 'mean added response delay', '0')
  .option('--error-rate <share>', 'share of calls answered 500', '0')
  .action(simMockstagram);

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`sluice: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

/**
 * Storage per request: writes `--rows` request-log rows (the `requests` dataset of the shipped config)
 * at a simulated 10,000 requests/s through the write path, lets the rollups catch up, then copies the
 * raw rows and each rollup resolution into their own fresh DuckDB files and measures them. The anchor is
 * the same rows as CSV text. The figures feed the storage arithmetic in docs/operations.md.
 *
 * Cardinality (what the rollup size depends on) is set by `--users` (default 10,000) and `--endpoints`
 * (default 50); status codes are 200 (85%), 201, 204, 400, 404, 500.
 *
 * Run: npm run bench -- storage [--rows 1_000_000] [--users 10000] [--endpoints 50]
 */
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { numberArg } from './lib/args.js';
import { benchTempDir } from './lib/temp-dir.js';
import { loadConfig, validateConfig } from '../src/config/load.js';
import { createLogger } from '../src/observability/logger.js';
import { Sluice } from '../src/runtime.js';
import { mulberry32 } from '../src/sim/random.js';

const ROWS = numberArg('rows', 1_000_000);
const USERS = numberArg('users', 10_000);
const ENDPOINTS = numberArg('endpoints', 50);
const RATE = 10_000;
const CHUNK = 50_000;
const STATUSES = [
  '200',
  '200',
  '200',
  '200',
  '200',
  '200',
  '200',
  '200',
  '200',
  '200',
  '200',
  '200',
  '200',
  '200',
  '200',
  '200',
  '200',
  '201',
  '204',
  '400',
  '404',
  '500',
];

function* ndjsonChunks(t0Ms: number): Generator<{ ndjson: Buffer; csvBytes: number }> {
  const rand = mulberry32(7);
  for (let from = 0; from < ROWS; from += CHUNK) {
    const lines: string[] = [];
    let csvBytes = 0;
    for (let i = from; i < Math.min(ROWS, from + CHUNK); i++) {
      // Zipf-like: a few endpoints and users take most requests.
      const endpoint = `/api/v1/resource${Math.floor(ENDPOINTS * rand() ** 2)}`;
      const user = `user-${Math.floor(USERS * rand() ** 1.5)}`;
      const row = {
        request_id: `${((i * 2654435761) >>> 0).toString(16).padStart(8, '0')}-${i.toString(16).padStart(12, '0')}`,
        timestamp: new Date(t0Ms + (i * 1000) / RATE).toISOString(),
        user_id: user,
        endpoint,
        status_code: STATUSES[Math.floor(rand() * STATUSES.length)]!,
        latency_ms: Math.round(Math.exp(3 + rand() * 2.5) * 100) / 100,
      };
      lines.push(JSON.stringify(row));
      csvBytes += Object.values(row).join(',').length + 1;
    }
    yield { ndjson: Buffer.from(`${lines.join('\n')}\n`), csvBytes };
  }
}

async function fileBytes(
  source: DuckDBInstance,
  dir: string,
  name: string,
  select: string,
): Promise<{ rows: number; bytes: number }> {
  const conn = await source.connect();
  const file = path.join(dir, `${name}.duckdb`);
  await conn.run(`ATTACH '${file}' AS m`);
  await conn.run(`CREATE TABLE m.t AS ${select}`);
  const rows = Number((await conn.runAndReadAll('SELECT count(*) FROM m.t')).getRows()[0]![0]);
  await conn.run('CHECKPOINT m');
  await conn.run('DETACH m');
  conn.closeSync();
  return { rows, bytes: fs.statSync(file).size };
}

async function main(): Promise<void> {
  const tmp = benchTempDir();
  try {
    const shipped = loadConfig({ SLUICE_CONFIG: path.resolve(import.meta.dirname, '../sluice.yaml') }).config;
    const config = validateConfig(
      {
        ...structuredClone(shipped),
        data_dir: path.join(tmp.dir, 'data'),
        admin_key: 'bench-admin-key-0123456789',
        log_level: 'warn',
      },
      'bench',
    );
    const sluice = new Sluice(config, createLogger(config.log_level));
    await sluice.start();
    const t0Ms = Math.floor(Date.now() / 86_400_000 - 1) * 86_400_000;
    let csvBytes = 0;
    const started = Date.now();
    for (const chunk of ndjsonChunks(t0Ms)) {
      csvBytes += chunk.csvBytes;
      await sluice.writer.write('requests', chunk.ndjson, { client: null });
    }
    await sluice.settle();
    const writeS = (Date.now() - started) / 1000;
    await sluice.close();

    const source = await DuckDBInstance.create(path.join(config.data_dir, 'series.duckdb'));
    const conn = await source.connect();
    const tables = (
      await conn.runAndReadAll("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'p_requests_%'")
    )
      .getRows()
      .map((r) => String(r[0]));
    conn.closeSync();
    const raw = await fileBytes(
      source,
      tmp.dir,
      'raw',
      tables.map((t) => `SELECT * FROM "${t}"`).join(' UNION ALL '),
    );
    const rollups: Record<string, { rows: number; bytes: number; bytes_per_cell: number }> = {};
    for (const res of ['1m', '1h', '1d']) {
      const r = await fileBytes(source, tmp.dir, `r_${res}`, `SELECT * FROM "r_requests_${res}"`);
      rollups[res] = { ...r, bytes_per_cell: Math.round(r.bytes / Math.max(1, r.rows)) };
    }
    source.closeSync();
    const minutes = ROWS / RATE / 60;
    console.log(
      JSON.stringify({
        bench: 'storage',
        rows: ROWS,
        users: USERS,
        endpoints: ENDPOINTS,
        simulated_seconds: ROWS / RATE,
        write_rows_per_s: Math.round(ROWS / writeS),
        raw_bytes: raw.bytes,
        raw_bytes_per_row: Math.round((raw.bytes / raw.rows) * 10) / 10,
        anchor_csv_bytes_per_row: Math.round((csvBytes / ROWS) * 10) / 10,
        ratio: Math.round((raw.bytes / csvBytes) * 1000) / 1000,
        rollups,
        rollup_1m_cells_per_minute: Math.round(rollups['1m']!.rows / minutes),
      }),
    );
  } finally {
    tmp.remove();
  }
}

await main();

/**
 * Upload throughput end to end: a readings CSV POSTed (streamed) to a `sluice serve` process, from the
 * first request byte until the upload is `done` and its rows are counted by the stats endpoint. The
 * anchor, in the same run, is DuckDB loading the same file in-process with
 * `CREATE TABLE t AS SELECT * FROM read_csv(...)`. Sluice does more (durable spool, validation, dedup
 * hashes, exactly-once apply, statistics), so the ratio is the figure to watch, not parity.
 *
 * Run: npm run bench -- ingest-csv [--rows 10_000_000] [--invalid 0.01] [--profile <dir>]
 * `--profile` writes a V8 CPU profile of the server (open it in Chrome DevTools) into <dir>.
 */
import fs from 'node:fs';
import path from 'node:path';
import { numberArg } from './lib/args.js';
import { duckdbReadCsv } from './lib/duckdb-anchor.js';
import { round } from './lib/latency.js';
import { startSluice } from './lib/sluice-server.js';
import { benchTempDir } from './lib/temp-dir.js';
import { getJson, postUpload, waitUploadFinal } from './lib/upload-client.js';
import { writeChunks } from './lib/write-chunks.js';
import { newExpectation, readingsFile } from '../src/sim/readings-file.js';

const ROWS = numberArg('rows', 10_000_000);
const INVALID = numberArg('invalid', 0);
const profileAt = process.argv.indexOf('--profile');
const PROFILE_DIR = profileAt > 0 ? path.resolve(process.argv[profileAt + 1] ?? 'profiles') : null;

interface StatsBody {
  fields: Record<string, { count: number }>;
}

async function main(): Promise<void> {
  const tmp = benchTempDir();
  try {
    const csv = path.join(tmp.dir, 'readings.csv');
    const expect = newExpectation();
    const bytes = await writeChunks(csv, readingsFile({ rows: ROWS, invalidShare: INVALID }, expect));

    const anchorDir = path.join(tmp.dir, 'duckdb');
    fs.mkdirSync(anchorDir);
    const anchor = await duckdbReadCsv(anchorDir, csv, {
      device_id: 'VARCHAR',
      timestamp: 'TIMESTAMP',
      value: 'DOUBLE',
    });
    fs.rmSync(anchorDir, { recursive: true, force: true });
    // DuckDB's read_csv would fail (or null) on invalid rows; only compare its count on clean files.
    if (INVALID === 0 && anchor.rows !== ROWS)
      throw new Error(`DuckDB loaded ${anchor.rows} rows, expected ${ROWS}`);

    const dataDir = path.join(tmp.dir, 'data');
    fs.mkdirSync(dataDir);
    if (PROFILE_DIR) fs.mkdirSync(PROFILE_DIR, { recursive: true });
    const server = await startSluice({
      dataDir,
      nodeArgs: PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [],
    });
    let peakRss = NaN;
    try {
      const posted = await postUpload(server.url, server.auth, 'readings', csv);
      const { report, doneAt } = await waitUploadFinal(server.url, server.auth, posted.report.id);
      if (report.status !== 'done') throw new Error(`upload ended ${report.status}: ${report.error ?? ''}`);
      if (report.rows.total !== expect.rows || report.rows.valid !== expect.valid)
        throw new Error(
          `report counts ${JSON.stringify(report.rows)}, expected ${expect.rows}/${expect.valid}`,
        );
      const stats = (await getJson(server.url, server.auth, '/v1/datasets/readings/stats')) as StatsBody;
      const counted = stats.fields.value?.count;
      if (counted !== expect.valid) throw new Error(`stats count ${counted}, expected ${expect.valid}`);

      const sluiceRowsPerS = ROWS / ((doneAt - posted.startedAt) / 1000);
      const duckRowsPerS = ROWS / (anchor.ms / 1000);
      peakRss = await server.stop();
      console.log(
        JSON.stringify({
          bench: 'ingest-csv',
          rows: ROWS,
          invalid: expect.invalid,
          file_mb: round(bytes / 2 ** 20, 1),
          sluice_rows_per_s: Math.round(sluiceRowsPerS),
          duckdb_read_csv_rows_per_s: Math.round(duckRowsPerS),
          ratio: round(sluiceRowsPerS / duckRowsPerS),
          time_to_201_ms: Math.round(posted.answeredAt - posted.startedAt),
          processing_ms: Math.round(doneAt - posted.answeredAt),
          peak_rss_mb: Math.round(peakRss),
        }),
      );
    } finally {
      if (Number.isNaN(peakRss)) await server.stop();
    }
  } finally {
    tmp.remove();
  }
}

await main();

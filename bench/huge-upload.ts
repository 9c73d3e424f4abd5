/**
 * A huge upload with flat memory: a readings CSV of `--gb` gigabytes (default 10) is generated while it
 * is sent with tus (deferred length), so no file exists beforehand. Reports end-to-end rows/s (first
 * byte until the upload is done) and the server's peak RSS, sampled throughout. The anchor is DuckDB's
 * read_csv of a 2M-row sample of the same generator, in the same run.
 *
 * Run: npm run bench -- huge-upload [--gb 10] [--days 20] [--rss-limit-mb 400] [--duckdb-memory-mb 256]
 * The server runs with `storage.duckdb_memory_limit` set to `--duckdb-memory-mb`, as a small box would.
 * 256 MB, not less: at 128 MB DuckDB 1.5 has been seen to fail a checkpoint of a 2 GB load with a fatal
 * "Corrupted in-memory column" error (see docs/performance.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import { numberArg } from './lib/args.js';
import { duckdbReadCsv } from './lib/duckdb-anchor.js';
import { round } from './lib/latency.js';
import { procStatusMb } from './lib/rss.js';
import { startSluice } from './lib/sluice-server.js';
import { benchTempDir } from './lib/temp-dir.js';
import { tusStream } from './lib/tus-stream.js';
import { waitUploadFinal } from './lib/upload-client.js';
import { writeChunks } from './lib/write-chunks.js';
import { newExpectation, readingsFile } from '../src/sim/readings-file.js';

const GB = numberArg('gb', 10);
const RSS_LIMIT_MB = numberArg('rss-limit-mb', 400);
const DUCKDB_MEMORY_MB = numberArg('duckdb-memory-mb', 256);
/**
 * Days the file's times span, ending now: a fleet of 1,000 devices each reporting every few seconds.
 * Inside the shipped 30-day raw retention, so the run measures ingest, not retention dropping rows as
 * they arrive; a span of years would also make thousands of day partitions (see docs/performance.md).
 */
const DAYS = numberArg('days', 20);
const SPAN_MS = DAYS * 86_400_000;
/** A readings row of the generator is about 40 bytes. */
const BYTES_PER_ROW = 40;

async function main(): Promise<void> {
  const tmp = benchTempDir();
  try {
    const sample = path.join(tmp.dir, 'sample.csv');
    await writeChunks(sample, readingsFile({ rows: 2_000_000 }));
    const anchorDir = path.join(tmp.dir, 'duckdb');
    fs.mkdirSync(anchorDir);
    const anchor = await duckdbReadCsv(anchorDir, sample, {
      device_id: 'VARCHAR',
      timestamp: 'TIMESTAMP',
      value: 'DOUBLE',
    });
    fs.rmSync(anchorDir, { recursive: true, force: true });
    fs.rmSync(sample);

    const dataDir = path.join(tmp.dir, 'data');
    fs.mkdirSync(dataDir);
    const server = await startSluice({
      dataDir,
      extraConfig: `storage:\n  duckdb_memory_limit: ${DUCKDB_MEMORY_MB}MB`,
    });
    const rows = Math.round((GB * 1e9) / BYTES_PER_ROW);
    const expect = newExpectation();
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(procStatusMb(server.pid, 'VmRSS')), 250);
    let peakRss = NaN;
    try {
      const started = performance.now();
      let sent = 0;
      let uploadId: string | undefined;
      // Progress on stderr every 30 s: bytes sent, rows processed, RSS now.
      const progress = setInterval(() => {
        void (async () => {
          let processed = '?';
          if (uploadId !== undefined) {
            const res = await fetch(`${server.url}/v1/uploads/${uploadId}`, { headers: server.auth });
            const r = (await res.json()) as { rows?: { total: number } };
            processed = String(r.rows?.total ?? '?');
          }
          process.stderr.write(
            `${Math.round((performance.now() - started) / 1000)} s: sent ${(sent / 1e9).toFixed(2)} GB, ` +
              `rows processed ${processed}, RSS ${Math.round(samples.at(-1) ?? NaN)} MB\n`,
          );
        })().catch(() => undefined);
      }, 30_000);
      const id = await tusStream({
        url: server.url,
        auth: server.auth,
        dataset: 'readings',
        chunks: readingsFile({ rows, startMs: Date.now() - SPAN_MS, stepMs: SPAN_MS / rows }, expect),
        onUrl: (url) => (uploadId = url.split('/').pop()),
        onProgress: (b) => (sent = b),
      });
      const sentAt = performance.now();
      const { report, doneAt } = await waitUploadFinal(server.url, server.auth, id, {
        timeoutMs: 6 * 3600_000,
      }).finally(() => clearInterval(progress));
      if (report.status !== 'done') throw new Error(`upload ended ${report.status}: ${report.error ?? ''}`);
      if (report.rows.total !== expect.rows || report.rows.valid !== expect.valid)
        throw new Error(
          `report counts ${JSON.stringify(report.rows)}, expected ${expect.rows}/${expect.valid}`,
        );
      clearInterval(sampler);
      peakRss = await server.stop();
      const secs = (doneAt - started) / 1000;
      console.log(
        JSON.stringify({
          bench: 'huge-upload',
          gb: round(sent / 1e9, 2),
          rows: expect.rows,
          sluice_rows_per_s: Math.round(expect.rows / secs),
          duckdb_read_csv_rows_per_s: Math.round(anchor.rows / (anchor.ms / 1000)),
          ratio: round(expect.rows / secs / (anchor.rows / (anchor.ms / 1000)), 3),
          upload_s: round((sentAt - started) / 1000, 1),
          total_s: round(secs, 1),
          peak_rss_mb: Math.round(peakRss),
          rss_mb_by_quarter: [0.25, 0.5, 0.75, 1].map((q) =>
            Math.round(samples[Math.floor(q * (samples.length - 1))] ?? NaN),
          ),
          rss_limit_mb: RSS_LIMIT_MB,
          duckdb_memory_limit_mb: DUCKDB_MEMORY_MB,
          days: DAYS,
          within_limit: peakRss < RSS_LIMIT_MB,
        }),
      );
    } finally {
      clearInterval(sampler);
      if (Number.isNaN(peakRss)) await server.stop();
    }
  } finally {
    tmp.remove();
  }
}

await main();

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tusClient from 'tus-js-client';
import { Upload, type DetailedError, type UrlStorage } from 'tus-js-client';
import type { ByteProgress } from './progress.js';
import { isRetriableStatus, retryDelayMs } from './retry-after.js';

export interface ResumableOptions {
  url: string;
  key: string;
  dataset: string;
  /** Continue this file's earlier unfinished upload, if one is recorded. */
  resume: boolean;
  /** Give up after this long without any progress (ms). */
  patienceMs: number;
  chunkBytes: number;
  progress: (startAt: number) => ByteProgress;
}

/** The Node build ships a file-backed URL storage that the type declarations do not list. */
const { FileUrlStorage } = tusClient as unknown as { FileUrlStorage: new (file: string) => UrlStorage };

/** Where unfinished uploads are remembered between runs (file fingerprint → upload URL). */
function urlStorage(): UrlStorage {
  const file = process.env.SLUICE_UPLOAD_STATE ?? path.join(os.homedir(), '.sluice', 'uploads.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return new FileUrlStorage(file);
}

/**
 * Uploads a file with tus and returns its upload id. Network errors, a restarting server and load
 * answers (429/503, with their Retry-After) are retried from the offset the server reports, for as
 * long as progress resumes within `patienceMs`.
 */
export async function uploadResumable(file: string, opts: ResumableOptions): Promise<string> {
  const size = fs.statSync(file).size;
  const upload = new Upload(fs.createReadStream(file), {
    endpoint: `${opts.url}/v1/tus/`,
    headers: { Authorization: `Bearer ${opts.key}` },
    metadata: { dataset: opts.dataset, filename: path.basename(file) },
    uploadSize: size,
    chunkSize: opts.chunkBytes,
    urlStorage: urlStorage(),
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    retryDelays: null,
  });
  let startAt = 0;
  if (opts.resume) {
    const previous = await upload.findPreviousUploads();
    previous.sort((a, b) => Date.parse(b.creationTime) - Date.parse(a.creationTime));
    if (previous[0]) {
      upload.resumeFromPreviousUpload(previous[0]);
      process.stderr.write(`resuming ${previous[0].uploadUrl}\n`);
    } else process.stderr.write('no unfinished upload of this file is recorded; starting a new one\n');
  }
  const bar = opts.progress(startAt);
  let lastProgress = Date.now();
  try {
    await new Promise<void>((resolve, reject) => {
      let attempt = 0;
      upload.options.onProgress = (sent) => {
        if (sent > startAt) lastProgress = Date.now();
        startAt = Math.max(startAt, sent);
        attempt = 0;
        bar.update(sent);
      };
      upload.options.onSuccess = () => resolve();
      upload.options.onError = (err) => {
        const res = (err as DetailedError).originalResponse;
        const status = res ? res.getStatus() : 0;
        if (!isRetriableStatus(status) || Date.now() - lastProgress > opts.patienceMs) {
          reject(new Error(describe(err, status, res?.getBody())));
          return;
        }
        const wait = retryDelayMs(attempt++, res?.getHeader('Retry-After'));
        bar.note(
          `${status ? `HTTP ${status}` : 'connection lost'}; retrying in ${(wait / 1000).toFixed(1)} s`,
        );
        setTimeout(() => upload.start(), wait);
      };
      upload.start();
    });
  } finally {
    bar.stop();
  }
  return upload.url!.split('/').pop()!;
}

function describe(err: Error, status: number, body: string | undefined): string {
  if (!status) return `upload failed: ${err.message}`;
  try {
    const p = JSON.parse(body ?? '') as { code?: string; detail?: string };
    return `HTTP ${status} ${p.code ?? ''}: ${p.detail ?? body}`;
  } catch {
    return `HTTP ${status}: ${body ?? err.message}`;
  }
}

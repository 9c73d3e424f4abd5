import { Readable } from 'node:stream';
import * as tus from 'tus-js-client';

/**
 * Streams generated text to `/v1/tus/` with the unmodified tus-js-client and a deferred length, so a
 * file of any size is uploaded without ever existing on disk. Resolves with the upload id once the last
 * byte is acknowledged; `onUrl` gets the upload URL as soon as it exists. A server that is behind
 * answers 429 or 503 with Retry-After; the chunk is then sent again a second later, for as long as it
 * takes (the server counts the bytes waiting to be processed, so it sets the pace, not the client).
 */
export function tusStream(opts: {
  url: string;
  auth: Record<string, string>;
  dataset: string;
  chunks: Iterable<string>;
  chunkBytes?: number;
  onUrl?: (url: string) => void;
  onProgress?: (bytes: number) => void;
}): Promise<string> {
  // A byte stream, not Readable.from's default object mode: tus-js-client asks `read(chunkSize)`, which
  // raises the stream's high-water mark to that size, and in object mode that counts chunks, not
  // bytes, so the stream would generate (and hold) the whole file before the first PATCH.
  const body = Readable.from(
    (function* () {
      for (const c of opts.chunks) yield Buffer.from(c);
    })(),
    { objectMode: false },
  );
  return new Promise((resolve, reject) => {
    let announced = false;
    const upload = new tus.Upload(body, {
      endpoint: `${opts.url}/v1/tus/`,
      headers: opts.auth,
      metadata: { dataset: opts.dataset, filename: `${opts.dataset}.csv` },
      uploadLengthDeferred: true,
      chunkSize: opts.chunkBytes ?? 16 * 1024 * 1024,
      retryDelays: Array.from({ length: 3600 }, (_, i) => (i === 0 ? 0 : 1000)),
      onShouldRetry: (err) => {
        const status = err.originalResponse?.getStatus() ?? 0;
        return status === 0 || status === 409 || status === 423 || status === 429 || status >= 500;
      },
      onProgress: (sent) => {
        if (!announced && upload.url) {
          announced = true;
          opts.onUrl?.(upload.url);
        }
        opts.onProgress?.(sent);
      },
      onSuccess: () => resolve(upload.url!.split('/').pop()!),
      onError: reject,
    });
    upload.start();
  });
}

import { Readable } from 'node:stream';
import * as tus from 'tus-js-client';

/**
 * Streams generated text to `/v1/tus/` with the unmodified tus-js-client and a deferred length, so a
 * file of any size is uploaded without ever existing on disk. Resolves with the upload id once the last
 * byte is acknowledged; `onUrl` gets the upload URL as soon as it exists.
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
  const body = Readable.from(
    (function* () {
      for (const c of opts.chunks) yield Buffer.from(c);
    })(),
  );
  return new Promise((resolve, reject) => {
    let announced = false;
    const upload = new tus.Upload(body, {
      endpoint: `${opts.url}/v1/tus/`,
      headers: opts.auth,
      metadata: { dataset: opts.dataset, filename: `${opts.dataset}.csv` },
      uploadLengthDeferred: true,
      chunkSize: opts.chunkBytes ?? 16 * 1024 * 1024,
      retryDelays: [0, 1000, 3000],
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

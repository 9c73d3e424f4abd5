import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SluiceError } from '../core/errors.js';

const gunzipAsync = promisify(gunzip);

/**
 * Write routes (records, line protocol) take their body as one Buffer: it is decoded in memory, and
 * its size is capped by `writes.max_body_bytes`, before and after gzip decoding. Registered on a scope
 * of its own so the rest of the API keeps Fastify's JSON parser.
 */
export function acceptRawBodies(scope: FastifyInstance, maxBytes: number): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBytes }, (_req, body, done) =>
    done(null, body),
  );
}

/** The body as bytes, gunzipped when `Content-Encoding: gzip` (InfluxDB clients compress by default). */
export async function writeBody(req: FastifyRequest, maxBytes: number): Promise<Buffer> {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding === 'identity' || encoding === '') return raw;
  if (encoding !== 'gzip')
    throw new SluiceError(
      'unsupported_media_type',
      `Content-Encoding '${encoding}' is not supported; use gzip`,
    );
  try {
    return await gunzipAsync(raw, { maxOutputLength: maxBytes });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new SluiceError('payload_too_large', `The decompressed body is over ${maxBytes} bytes`);
    throw new SluiceError('bad_request', `The gzip body does not decode: ${(e as Error).message}`);
  }
}

/** The media type of the request without parameters, lower-cased. */
export function mediaType(req: FastifyRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

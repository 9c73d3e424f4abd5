import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { SluiceError } from '../core/errors.js';

const CSV_TYPES = new Set(['text/csv', 'application/csv', 'text/plain']);
const NDJSON_TYPES = new Set([
  'application/x-ndjson',
  'application/ndjson',
  'application/jsonl',
  'application/x-jsonlines',
]);

export interface UploadBody {
  format: 'csv' | 'ndjson';
  contentType: string;
  filename: string | null;
  stream: Readable;
}

function formatOfType(mime: string): 'csv' | 'ndjson' | undefined {
  if (CSV_TYPES.has(mime)) return 'csv';
  if (NDJSON_TYPES.has(mime)) return 'ndjson';
  return undefined;
}

function formatOfName(name: string | null): 'csv' | 'ndjson' | undefined {
  if (!name) return undefined;
  if (/\.csv$/i.test(name)) return 'csv';
  if (/\.(ndjson|jsonl)$/i.test(name)) return 'ndjson';
  return undefined;
}

/**
 * The upload's byte stream and format, from a raw `text/csv` / `application/x-ndjson` body or the
 * `file` field of a multipart form. Nothing is buffered: the stream is handed on unread.
 */
export async function uploadBody(req: FastifyRequest, datasetFormat: 'csv' | 'ndjson'): Promise<UploadBody> {
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType === 'multipart/form-data') return multipartBody(req, datasetFormat);
  const format = formatOfType(contentType);
  if (!format)
    throw new SluiceError(
      'unsupported_media_type',
      `Content-Type '${contentType || '(none)'}' is not accepted; send text/csv, application/x-ndjson or multipart/form-data`,
    );
  if (isEmpty(req)) throw new SluiceError('empty_body', 'The upload body is empty');
  const header = req.headers['content-disposition'];
  const filename = typeof header === 'string' ? (/filename="?([^";]+)"?/i.exec(header)?.[1] ?? null) : null;
  return { format, contentType, filename, stream: req.body as Readable };
}

function isEmpty(req: FastifyRequest): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return Number(len) === 0;
  return req.headers['transfer-encoding'] === undefined || req.body === undefined;
}

async function multipartBody(req: FastifyRequest, datasetFormat: 'csv' | 'ndjson'): Promise<UploadBody> {
  if (!req.isMultipart()) throw new SluiceError('bad_multipart', 'The multipart body cannot be read');
  for await (const part of req.parts()) {
    if (part.type !== 'file') continue;
    if (part.fieldname !== 'file') {
      part.file.resume();
      continue;
    }
    const mime = part.mimetype.toLowerCase();
    const format = formatOfType(mime) ?? formatOfName(part.filename) ?? datasetFormat;
    return {
      format,
      contentType: `multipart/form-data; ${mime}`,
      filename: part.filename || null,
      stream: part.file,
    };
  }
  throw new SluiceError('bad_multipart', "The multipart body has no file field named 'file'");
}

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, SluiceError, isSluiceError, type ErrorCode } from '../../core/errors.js';

/** Fastify's own error codes, mapped to ours so every error a client sees has a stable code. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'empty_body',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad_request',
  FST_ERR_VALIDATION: 'validation_failed',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'bad_multipart',
  FST_REQ_FILE_TOO_LARGE: 'payload_too_large',
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  instance: string;
  [extra: string]: unknown;
}

export function problemOf(err: SluiceError, instance: string): Problem {
  return {
    type: `urn:sluice:error:${err.code}`,
    title: ERRORS[err.code].title,
    status: err.status,
    code: err.code,
    detail: err.message,
    instance,
    ...(err.details ?? {}),
  };
}

/** Turns any thrown error into `application/problem+json` (RFC 9457) with a stable `code`. */
export function toSluiceError(err: FastifyError | Error): SluiceError {
  if (isSluiceError(err)) return err;
  const code = (err as FastifyError).code;
  const mapped = code ? FASTIFY_CODES[code] : undefined;
  if (mapped) return new SluiceError(mapped, err.message);
  if ((err as FastifyError).statusCode === 400 && err instanceof SyntaxError)
    return new SluiceError('bad_request', `The body is not valid JSON: ${err.message}`);
  const status = (err as FastifyError).statusCode;
  if (status === 413) return new SluiceError('payload_too_large', err.message);
  if (status === 415) return new SluiceError('unsupported_media_type', err.message);
  if (status !== undefined && status >= 400 && status < 500)
    return new SluiceError('bad_request', err.message);
  return new SluiceError('internal', 'Internal error', { cause: err });
}

export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  err: SluiceError,
  /** Members added to the problem document (e.g. `message` for InfluxDB clients). */
  extra?: Record<string, unknown>,
): FastifyReply {
  if (err.retryAfter !== undefined) void reply.header('Retry-After', String(Math.ceil(err.retryAfter)));
  return reply
    .code(err.status)
    .type('application/problem+json')
    .send({ ...problemOf(err, request.url.split('?')[0] ?? request.url), ...extra });
}

export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const err = toSluiceError(error);
    if (err.code === 'internal') request.log.error({ err: error }, 'unhandled error');
    return sendProblem(reply, request, err);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      request,
      new SluiceError('not_found', `No route for ${request.method} ${request.url.split('?')[0]}`),
    ),
  );
}

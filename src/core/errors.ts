/**
 * The one errors module. Every error a client can see has a stable `code`, an HTTP status and a
 * message. `test/unit/errors.test.ts` checks that codes are unique and documented in docs/api.md.
 *
 * Retry intent lives in the type: `retriable` errors get backoff, the rest are recorded and skipped.
 */
export interface ErrorDef {
  readonly status: number;
  readonly title: string;
  readonly retriable?: boolean;
}

export const ERRORS = {
  // request shape
  bad_request: { status: 400, title: 'Bad request' },
  validation_failed: { status: 400, title: 'Request body or query failed validation' },
  empty_body: { status: 400, title: 'The request body is empty' },
  bad_query: { status: 400, title: 'A query parameter is missing or malformed' },
  bad_multipart: { status: 400, title: 'The multipart body has no usable file field' },
  unsupported_media_type: { status: 415, title: 'Unsupported content type' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  partial_write: { status: 400, title: 'Some lines of a line-protocol write were not stored' },
  // auth
  unauthorized: { status: 401, title: 'Missing or invalid API key' },
  forbidden: { status: 403, title: 'The API key lacks the role or dataset scope for this call' },
  // resources
  not_found: { status: 404, title: 'No such route' },
  dataset_not_found: { status: 404, title: 'Unknown dataset' },
  upload_not_found: { status: 404, title: 'Unknown upload' },
  key_not_found: { status: 404, title: 'Unknown API key' },
  record_not_found: { status: 404, title: 'No record with that key' },
  job_not_found: { status: 404, title: 'Unknown job' },
  dataset_exists: { status: 409, title: 'A dataset with that name already exists' },
  dataset_in_config: {
    status: 409,
    title: 'The dataset is defined in the config file and cannot be changed here',
  },
  upload_finished: { status: 409, title: 'The upload has already finished' },
  idempotency_conflict: {
    status: 409,
    title: 'The Idempotency-Key was already used for a different dataset',
  },
  unsupported_for_mode: { status: 409, title: 'The operation is not available for this dataset mode' },
  capability_missing: { status: 501, title: 'The configured store does not support this operation' },
  // load
  rate_limited: { status: 429, title: 'Too many requests', retriable: true },
  overloaded: { status: 503, title: 'The server is at capacity', retriable: true },
  not_ready: { status: 503, title: 'The server is starting', retriable: true },
  // config
  config_invalid: { status: 500, title: 'The configuration is invalid' },
  // server
  internal: { status: 500, title: 'Internal error' },
  store_unavailable: { status: 503, title: 'A storage backend is unavailable', retriable: true },
  // alerting
  alert_not_found: { status: 404, title: 'Unknown alert' },
  alert_rule_not_found: { status: 404, title: 'Unknown alert rule' },
  channel_not_found: { status: 404, title: 'Unknown alert channel' },
  silence_not_found: { status: 404, title: 'Unknown silence' },
  alert_rule_exists: { status: 409, title: 'An alert rule with that id already exists' },
  channel_exists: { status: 409, title: 'A channel with that id already exists' },
  alerting_in_config: {
    status: 409,
    title: 'The rule or channel is defined in the config file and cannot be changed here',
  },
  // pull connectors
  connector_not_found: { status: 404, title: 'Unknown connector' },
  connector_exists: { status: 409, title: 'A connector with that id already exists' },
  fault_injection_off: {
    status: 409,
    title: 'Fault injection is off; enable testing.fault_injection in the config to use it',
  },
} as const satisfies Record<string, ErrorDef>;

export type ErrorCode = keyof typeof ERRORS;

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retriable: boolean;
  readonly details: Record<string, unknown> | undefined;
  /** Seconds for a Retry-After header, when the error is about load. */
  readonly retryAfter: number | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    opts: { details?: Record<string, unknown>; retryAfter?: number; cause?: unknown } = {},
  ) {
    const def: ErrorDef = ERRORS[code];
    super(message ?? def.title, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.status = def.status;
    this.retriable = def.retriable ?? false;
    this.details = opts.details;
    this.retryAfter = opts.retryAfter;
  }
}

export function isSluiceError(e: unknown): e is SluiceError {
  return e instanceof SluiceError;
}

/**
 * Row-level reject reasons. These are values, not exceptions: validation returns them.
 * Each is documented in docs/api.md.
 */
export const REJECT_REASONS = {
  column_count: 'The row has the wrong number of columns',
  missing_key: 'A key column is missing or empty',
  bad_key: 'A key value contains the unit separator U+001F, which joins composite keys',
  missing_value: 'A required column is missing or empty',
  not_a_number: 'A numeric column does not hold a number',
  bad_time: 'The time column cannot be parsed',
  time_out_of_window: 'The time is outside the dataset window',
  out_of_range: 'A value is outside its declared min/max',
  not_in_enum: 'A value is not one of the declared values',
  pattern_mismatch: 'A value does not match the declared pattern',
  bad_json: 'A JSON row or payload column is not valid JSON',
  not_an_object: 'An NDJSON line is valid JSON but not an object',
  bad_encoding: 'The line is not valid UTF-8 text',
  line_too_long: 'The line is longer than the configured limit',
  unterminated_quote: 'A quoted field is never closed',
} as const;

export type RejectReason = keyof typeof REJECT_REASONS;

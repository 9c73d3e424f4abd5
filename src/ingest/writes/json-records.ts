import { SluiceError } from '../../core/errors.js';

/**
 * A JSON body of records (an array of objects, or one object) as NDJSON, one element per line, so it
 * goes through the same decoder as NDJSON: element i (1-based) is line i, which is the position
 * rejects report. An element that is not an object stays on its line and is rejected there
 * (`not_an_object`), like an NDJSON line.
 */
export function jsonRecordsToNdjson(body: Buffer): Buffer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new SluiceError('bad_request', `The body is not valid JSON: ${(e as Error).message}`);
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  // JSON.stringify never emits a raw newline, so each element is exactly one line.
  return Buffer.from(items.map((item) => JSON.stringify(item) ?? 'null').join('\n') + '\n');
}

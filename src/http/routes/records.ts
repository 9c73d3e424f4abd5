import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import { jsonRecordsToNdjson } from '../../ingest/writes/json-records.js';
import type { WriteResult } from '../../ingest/record-writer.js';
import type { Sluice } from '../../runtime.js';
import { requireDataset } from '../plugins/auth.js';
import { mediaType, writeBody } from '../write-body.js';

const NDJSON_TYPES = new Set([
  'application/x-ndjson',
  'application/ndjson',
  'application/jsonl',
  'application/x-jsonlines',
]);
const JSON_TYPES = new Set(['application/json']);

/** The records API's answer: the writer's counts, with rejects positioned by line or array element. */
export function writeResultView(dataset: string, r: WriteResult) {
  return {
    dataset,
    source: r.source,
    applied: r.applied,
    rows: r.rows,
    rejects_by_reason: r.rejects_by_reason,
    rejects: r.rejects.map((x) => ({ position: x.line, reason: x.reason, column: x.column, raw: x.raw })),
  };
}

/**
 * `POST /v1/datasets/{name}/records`: rows as a JSON array (or one object) or NDJSON, validated like an
 * upload. Answers `200` once every valid row is applied (queryable), or `202` with `?wait=false` once
 * the rows are durable in the BatchLog.
 */
export function recordRoutes(app: FastifyInstance, sluice: Sluice): void {
  const maxBytes = sluice.config.writes.max_body_bytes;
  const metrics = sluice.writeMetrics;
  app.addHook('onResponse', (_req, reply, done) => {
    metrics.requests.inc({ api: 'records', status: String(reply.statusCode) });
    done();
  });
  app.post<{ Params: { name: string }; Querystring: { wait?: boolean } }>(
    '/v1/datasets/:name/records',
    {
      config: { access: 'writer' },
      schema: {
        tags: ['writes'],
        summary:
          'Write records (JSON array or NDJSON), validated like uploads; 200 once applied, 202 with ?wait=false once durable',
        params: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        querystring: {
          type: 'object',
          properties: { wait: { type: 'boolean', default: true } },
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      const dataset = req.params.name;
      const principal = requireDataset(req, dataset, 'writer');
      sluice.registry.get(dataset);
      const type = mediaType(req);
      const isJson = JSON_TYPES.has(type);
      if (!isJson && !NDJSON_TYPES.has(type))
        throw new SluiceError(
          'unsupported_media_type',
          `Send records as application/json (an array of objects) or application/x-ndjson; got '${type}'`,
        );
      const body = await writeBody(req, maxBytes);
      metrics.bytes.inc({ api: 'records' }, body.length);
      if (body.length === 0) throw new SluiceError('empty_body', 'The request has no records');
      const ndjson = isJson ? jsonRecordsToNdjson(body) : body;
      const wait = req.query.wait !== false;
      const result = await sluice.writer.write(dataset, ndjson, { client: principal.id, waitApplied: wait });
      return reply.code(wait ? 200 : 202).send(writeResultView(dataset, result));
    },
  );
}

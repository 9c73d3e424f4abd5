import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import { isPrecision } from '../../ingest/writes/line-translation.js';
import type { LineProtocolWriter, LineWriteResult } from '../../ingest/writes/line-protocol-writer.js';
import type { WriteApi } from '../../ingest/writes/write-metrics.js';
import type { Sluice } from '../../runtime.js';
import { requireDataset } from '../plugins/auth.js';
import { sendProblem, toSluiceError } from '../plugins/problem.js';
import { writeBody } from '../write-body.js';

const tags = ['writes'];
const V2_PRECISIONS = ['ns', 'us', 'ms', 's'] as const;
const V1_PRECISIONS = ['n', 'ns', 'u', 'us', 'ms', 's', 'm', 'h'] as const;

interface V2Query {
  bucket?: string;
  org?: string;
  orgID?: string;
  precision?: string;
}
interface V1Query {
  db?: string;
  rp?: string;
  precision?: string;
  u?: string;
  p?: string;
  consistency?: string;
}

/**
 * InfluxDB-compatible writes, so Telegraf and InfluxDB client libraries write to Sluice unchanged:
 * `POST /api/v2/write` and `POST /write` (1.x). `204` when every line is stored, `400` (`partial_write`)
 * when some are not (the others are stored), `401`/`403` for keys. Errors are problem+json with a
 * `message` member as well, which is where InfluxDB clients look.
 */
export function influxWriteRoutes(app: FastifyInstance, sluice: Sluice, lines: LineProtocolWriter): void {
  const maxBytes = sluice.config.writes.max_body_bytes;
  const metrics = sluice.writeMetrics;
  app.addHook('onResponse', (req, reply, done) => {
    const api = req.routeOptions.url === '/write' ? 'influx_v1' : 'influx_v2';
    if (req.routeOptions.url === '/write' || req.routeOptions.url === '/api/v2/write')
      metrics.requests.inc({ api, status: String(reply.statusCode) });
    done();
  });
  app.setErrorHandler((error: Error, request, reply) => {
    const err = toSluiceError(error);
    if (err.code === 'internal') request.log.error({ err: error }, 'unhandled error');
    return sendProblem(reply, request, err, { message: err.message });
  });

  const write = async (
    req: FastifyRequest,
    reply: FastifyReply,
    precision: string,
    api: WriteApi,
  ): Promise<FastifyReply> => {
    const principal = req.principal;
    if (!principal) throw new SluiceError('unauthorized');
    const body = await writeBody(req, maxBytes);
    metrics.bytes.inc({ api }, body.length);
    const result = await lines.write(body.toString('utf8'), {
      precision,
      client: principal.id,
      authorize: (dataset) => requireDataset(req, dataset, 'writer'),
    });
    metrics.lines.inc({ outcome: 'written' }, result.written);
    metrics.lines.inc({ outcome: 'rejected' }, result.rejected);
    metrics.autoCreated.inc(result.created.length);
    if (result.rejected === 0) return reply.code(204).send();
    throw partialWrite(result);
  };

  app.post<{ Querystring: V2Query }>(
    '/api/v2/write',
    {
      config: { access: 'writer' },
      schema: {
        tags,
        summary:
          'InfluxDB 2.x write: line protocol, measurement → dataset (?bucket&org&precision=ns|us|ms|s); 204 when stored',
        querystring: {
          type: 'object',
          properties: {
            bucket: { type: 'string' },
            org: { type: 'string' },
            orgID: { type: 'string' },
            precision: { type: 'string', enum: [...V2_PRECISIONS], default: 'ns' },
          },
        },
      },
    },
    async (req, reply) => {
      if (!req.query.bucket) throw new SluiceError('bad_query', "'bucket' is required");
      return write(req, reply, precisionOf(req.query.precision), 'influx_v2');
    },
  );

  app.post<{ Querystring: V1Query }>(
    '/write',
    {
      config: { access: 'writer', queryKey: true },
      schema: {
        tags,
        summary:
          'InfluxDB 1.x write: line protocol, measurement → dataset (?db&precision=n|u|ms|s|m|h; key as u/p, Basic or Token)',
        querystring: {
          type: 'object',
          properties: {
            db: { type: 'string' },
            rp: { type: 'string' },
            precision: { type: 'string', enum: [...V1_PRECISIONS], default: 'n' },
            u: { type: 'string' },
            p: { type: 'string' },
            consistency: { type: 'string' },
          },
        },
      },
    },
    async (req, reply) => {
      if (!req.query.db) throw new SluiceError('bad_query', "'db' is required");
      return write(req, reply, precisionOf(req.query.precision), 'influx_v1');
    },
  );

  // Telegraf's 1.x output sends `CREATE DATABASE` at start. Datasets come from measurements here, so
  // that statement is accepted and does nothing; other InfluxQL is refused (query through /v1).
  app.post<{ Querystring: { q?: string } }>(
    '/query',
    {
      config: { access: 'writer', queryKey: true },
      schema: {
        tags,
        summary:
          'InfluxDB 1.x /query: accepts CREATE DATABASE (a no-op, for Telegraf); other statements are refused',
        querystring: {
          type: 'object',
          properties: { q: { type: 'string' }, u: { type: 'string' }, p: { type: 'string' } },
        },
      },
    },
    async (req, reply) => {
      const form = Buffer.isBuffer(req.body) ? new URLSearchParams(req.body.toString('utf8')).get('q') : null;
      const q = (req.query.q ?? form ?? '').trim();
      if (!/^CREATE\s+DATABASE\s+\S+/i.test(q))
        throw new SluiceError(
          'bad_query',
          'Only CREATE DATABASE is accepted here (it does nothing: measurements name datasets); query through /v1',
        );
      return reply.code(200).send({ results: [{ statement_id: 0 }] });
    },
  );

  app.get(
    '/ping',
    {
      config: { access: 'public' },
      schema: { tags: ['health'], summary: 'InfluxDB-style liveness check for clients that probe it (204)' },
    },
    (_req, reply) => reply.code(204).header('X-Influxdb-Version', 'sluice').send(),
  );
}

function precisionOf(p: string | undefined): string {
  const precision = p ?? 'ns';
  if (!isPrecision(precision)) throw new SluiceError('bad_query', `unknown precision '${precision}'`);
  return precision;
}

function partialWrite(r: LineWriteResult): SluiceError {
  const first = r.errors[0];
  const message =
    `partial write: ${r.rejected} line(s) not written, ${r.written} point(s) written` +
    (first ? `; line ${first.line}: ${first.message}` : '');
  return new SluiceError('partial_write', message, {
    details: { points: r.points, written: r.written, rejected: r.rejected, errors: r.errors },
  });
}

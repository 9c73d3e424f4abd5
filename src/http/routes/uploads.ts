import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import { UPLOAD_STATUSES, type UploadStatus } from '../../store/meta-store.js';
import { uploadReport } from '../../ingest/uploads/upload-report.js';
import type { Sluice } from '../../runtime.js';
import { requireDataset } from '../plugins/auth.js';
import { uploadBody } from '../upload-body.js';
import { csvField } from '../csv-field.js';

const tags = ['uploads'];
const idParam = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } as const;

/** Receives an upload for `dataset` and answers 201 with its report once the bytes are durable. */
export async function receiveUpload(
  sluice: Sluice,
  dataset: string,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const principal = requireDataset(req, dataset, 'writer');
  sluice.admission.checkUploadBytes(principal.id);
  const { layout } = sluice.registry.get(dataset);
  const body = await uploadBody(req, layout.spec.format);
  const key = req.headers['idempotency-key'];
  const { row, created } = await sluice.uploads.create({
    dataset,
    principal,
    format: body.format,
    contentType: body.contentType,
    filename: body.filename,
    idempotencyKey: typeof key === 'string' && key.length > 0 ? key.slice(0, 200) : null,
    body: body.stream,
  });
  if (!created) void reply.header('Idempotent-Replayed', 'true');
  return reply
    .code(201)
    .header('Location', `/v1/uploads/${row.id}`)
    .send(await uploadReport(sluice.meta, row, { rejects: false }));
}

export function uploadRoutes(app: FastifyInstance, sluice: Sluice): void {
  app.post<{ Params: { name: string } }>(
    '/v1/datasets/:name/uploads',
    {
      config: { access: 'writer' },
      schema: {
        tags,
        summary: 'Upload a CSV or NDJSON file (raw body or multipart field "file"); 201 once durable',
        params: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      },
    },
    (req, reply) => receiveUpload(sluice, req.params.name, req, reply),
  );

  app.get<{
    Querystring: { dataset?: string; client?: string; status?: string; limit?: number; before?: string };
  }>(
    '/v1/uploads',
    {
      config: { access: 'reader' },
      schema: {
        tags,
        summary: 'List uploads, newest first',
        querystring: {
          type: 'object',
          properties: {
            dataset: { type: 'string' },
            client: { type: 'string' },
            status: { type: 'string', enum: [...UPLOAD_STATUSES] },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            before: { type: 'string' },
          },
        },
      },
    },
    async (req) => {
      const q = req.query;
      if (q.dataset) requireDataset(req, q.dataset, 'reader');
      const rows = await sluice.uploads.list({
        dataset: q.dataset,
        client: q.client,
        status: q.status as UploadStatus | undefined,
        limit: q.limit ?? 100,
        before: q.before,
      });
      const visible = rows.filter(
        (r) => req.principal?.datasets == null || req.principal.datasets.has(r.dataset),
      );
      const uploads = await Promise.all(visible.map((r) => uploadReport(sluice.meta, r, { rejects: false })));
      return { uploads, next: rows.length === (q.limit ?? 100) ? rows[rows.length - 1]?.id : null };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/uploads/:id',
    { config: { access: 'reader' }, schema: { tags, summary: 'Upload report', params: idParam } },
    async (req) => {
      const row = await sluice.uploads.get(req.params.id);
      requireDataset(req, row.dataset, 'reader');
      return uploadReport(sluice.meta, row, { rejects: true });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/uploads/:id/rejects',
    {
      config: { access: 'reader' },
      schema: { tags, summary: 'Every rejected row as CSV: line, reason, column, raw', params: idParam },
    },
    async (req, reply) => {
      const row = await sluice.uploads.get(req.params.id);
      requireDataset(req, row.dataset, 'reader');
      reply
        .type('text/csv; charset=utf-8')
        .header('Content-Disposition', `attachment; filename="${row.id}-rejects.csv"`);
      return reply.send(Readable.from(rejectsCsv(sluice, row.id)));
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/uploads/:id',
    { config: { access: 'writer' }, schema: { tags, summary: 'Cancel an upload', params: idParam } },
    async (req) => {
      const row = await sluice.uploads.get(req.params.id);
      requireDataset(req, row.dataset, 'writer');
      if (req.principal?.role !== 'admin' && row.client !== req.principal?.id)
        throw new SluiceError('forbidden', 'Only the client that sent an upload, or an admin, may cancel it');
      const cancelled = await sluice.uploads.cancel(row.id);
      return uploadReport(sluice.meta, cancelled, { rejects: false });
    },
  );
}

/** Pages through the rejects table so memory stays flat however many rows were rejected. */
async function* rejectsCsv(sluice: Sluice, uploadId: string): AsyncGenerator<string> {
  yield 'line,reason,column,raw\n';
  let afterLine = 0;
  for (;;) {
    const page = await sluice.meta.listRejects(uploadId, { afterLine, limit: 5000 });
    if (page.length === 0) return;
    yield page.map((r) => `${r.line},${r.reason},${csvField(r.column ?? '')},${csvField(r.raw)}\n`).join('');
    afterLine = page[page.length - 1]!.line;
  }
}

import { AsyncLocalStorage } from 'node:async_hooks';
import { Server as TusServer } from '@tus/server';
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../../auth/keys.js';
import { durationMs } from '../../core/duration.js';
import { SluiceError, isSluiceError } from '../../core/errors.js';
import { TUS_CHECKSUM_ALGORITHMS } from '../../ingest/uploads/tus-checksum.js';
import { TusSpoolStore } from '../../ingest/uploads/tus-spool-store.js';
import type { Sluice } from '../../runtime.js';
import { problemOf } from '../plugins/problem.js';

export const TUS_PATH = '/v1/tus';
/** How often abandoned resumable uploads are looked for. */
const EXPIRY_SWEEP_MS = 10 * 60_000;

/**
 * tus 1.0 at /v1/tus/ (creation, creation-with-upload, creation-defer-length, HEAD offset, PATCH,
 * termination, checksum, expiration), served by @tus/server over Sluice's own upload records. The
 * last segment of an upload's tus URL is its upload id: `GET /v1/uploads/{id}` shows its report.
 */
export function tusRoutes(app: FastifyInstance, sluice: Sluice): void {
  // @tus/server's hooks see only the request; the key checked by the auth hook travels alongside.
  const caller = new AsyncLocalStorage<Principal>();
  const principal = (): Principal => {
    const p = caller.getStore();
    if (!p) throw new SluiceError('unauthorized');
    return p;
  };
  const store = new TusSpoolStore(
    sluice.meta,
    sluice.spool,
    durationMs(sluice.config.ingest.tus_expiration),
    sluice.tus,
  );
  const tus = new TusServer({
    path: TUS_PATH,
    datastore: store,
    relativeLocation: true,
    respectForwardedHeaders: true,
    maxSize: sluice.config.ingest.max_upload_bytes || undefined,
    namingFunction: (_req, metadata) => sluice.tus.open(principal(), metadata),
    onIncomingRequest: (req, id) => sluice.tus.admit(principal(), id, req.headers.get('upload-checksum')),
    onResponseError: (req, err) => {
      if (isSluiceError(err)) {
        const problem = problemOf(err, new URL(req.url).pathname);
        return { status_code: err.status, body: JSON.stringify(problem) };
      }
      if (!('status_code' in err)) sluice.log.error({ err }, 'tus request failed');
      return undefined;
    },
  });

  const sweep = setInterval(() => {
    tus.cleanUpExpiredUploads().catch((err: unknown) => sluice.log.error({ err }, 'expiring uploads failed'));
  }, EXPIRY_SWEEP_MS);
  sweep.unref();
  app.addHook('onClose', () => clearInterval(sweep));

  const schema = {
    tags: ['uploads'],
    summary: 'tus 1.0 resumable uploads; Upload-Metadata names the dataset (see docs/api.md)',
  };
  const handle = app.route.bind(app);
  for (const url of [TUS_PATH, `${TUS_PATH}/*`]) {
    handle({
      method: ['POST', 'HEAD', 'PATCH', 'DELETE', 'GET'],
      url,
      config: { access: 'writer' },
      schema,
      handler: async (req, reply) => {
        const p = req.principal!;
        // New bytes wait for room under the in-flight caps (429/503 with Retry-After).
        if (req.method === 'POST' || req.method === 'PATCH') sluice.admission.checkUploadBytes(p.id);
        reply.hijack();
        await caller.run(p, () => tus.handle(req.raw, reply.raw));
      },
    });
    // Capability discovery (and CORS preflight) needs no key.
    handle({
      method: 'OPTIONS',
      url,
      config: { access: 'public' },
      schema,
      handler: async (req, reply) => {
        reply.hijack();
        reply.raw.setHeader('Tus-Checksum-Algorithm', TUS_CHECKSUM_ALGORITHMS.join(','));
        await tus.handle(req.raw, reply.raw);
      },
    });
  }
}

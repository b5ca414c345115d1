import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { AdminConflictError, type AdminActions } from '@lambda/shared';
import { HttpError, fromDependency, unavailable } from '../errors.ts';
import { errorResponses } from './schemas.ts';

/**
 * Operator actions: `POST /v1/admin/batch-run` (a full batch run, answered when published) and
 * `POST /v1/admin/rollback` (body `{"runId"?: string}`: to that kept version, else the previous).
 * They need `Authorization: Bearer <ADMIN_TOKEN>`; a server started without a token has them
 * disabled (403), never open.
 */

export interface AdminRouteOptions {
  token: string | null;
  actions: AdminActions | undefined;
}

// Hashing first gives equal lengths, so the comparison takes the same time whatever was sent.
const digest = (s: string) => createHash('sha256').update(s).digest();

export async function adminRoutes(app: FastifyInstance, opts: AdminRouteOptions): Promise<void> {
  const expected = opts.token === null ? null : digest(opts.token);
  app.addHook('onRequest', async (req, reply) => {
    if (expected === null) throw new HttpError(403, 'admin routes are disabled: start the server with ADMIN_TOKEN set to enable them');
    const given = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      reply.header('www-authenticate', 'Bearer realm="lambda-admin"');
      throw new HttpError(401, 'authorization: expected "Bearer <ADMIN_TOKEN>" with the configured token');
    }
  });

  const act = (what: string, action: (actions: AdminActions) => Promise<Record<string, unknown>>) => {
    const actions = opts.actions;
    if (!actions) throw unavailable('batch layer');
    return fromDependency('batch layer', async () => {
      try {
        return await action(actions);
      } catch (err) {
        throw err instanceof AdminConflictError ? new HttpError(409, `${what}: ${err.message}`) : err;
      }
    });
  };
  const response = { 200: { type: 'object', additionalProperties: true }, ...errorResponses } as const;

  app.post('/v1/admin/batch-run', { schema: { response } }, () => act('batch run', (a) => a.runBatch()));
  app.post<{ Body: { runId?: string } | undefined }>(
    '/v1/admin/rollback',
    { schema: { body: { type: ['object', 'null'], properties: { runId: { type: 'string', minLength: 1 } } }, response } },
    (req) => act('rollback', (a) => a.rollback(req.body?.runId)),
  );
}

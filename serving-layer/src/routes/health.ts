import type { FastifyInstance } from 'fastify';
import type { EventLog } from '@lambda/shared';
import type { Sources } from '../layers.ts';

/**
 * `GET /health`: 200 while the server answers, naming each dependency and its state. A batch
 * layer that cannot be read makes the status `degraded` (the speed layer still serves), not a
 * failed probe that would take the server out of rotation.
 */

export interface HealthRouteOptions {
  log: EventLog;
  sources: Sources;
}

export async function healthRoutes(app: FastifyInstance, { log, sources }: HealthRouteOptions): Promise<void> {
  app.get(
    '/health',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['status', 'log'],
            properties: {
              status: { type: 'string', enum: ['ok', 'degraded'] },
              log: { type: 'string' },
              batch: {
                type: 'object',
                properties: { runId: { type: ['string', 'null'] }, highWaterMark: { type: ['number', 'null'] }, error: { type: 'string' } },
              },
              speed: { type: 'object', properties: { store: { type: 'string' } } },
            },
          },
        },
      },
    },
    async () => {
      const batch = sources.batch && (await sources.batch.current().catch((err: Error) => ({ error: err.message })));
      return {
        status: batch && 'error' in batch ? 'degraded' : 'ok',
        log: log.kind,
        ...(batch && { batch }),
        ...(sources.speed && { speed: { store: sources.speed.kind } }),
      };
    },
  );
}

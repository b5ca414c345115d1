import type { FastifyInstance } from 'fastify';
import { registry } from '@lambda/shared';

/** `GET /metrics`: every layer's metrics in this process, in the Prometheus text format. */
export async function metricsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
}

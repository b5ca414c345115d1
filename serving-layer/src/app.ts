import Fastify from 'fastify';
import type { Config, EventLog, Logger } from '@lambda/shared';
import { DEFAULT_INGEST_LIMITS, ingestRoutes, type IngestLimits } from './routes/ingest.ts';

export interface AppOptions {
  config: Config;
  log: EventLog;
  logger: Logger;
  ingest?: Partial<IngestLimits>;
}

/** The serving layer's HTTP app. The caller owns the log: closing the app leaves it open. */
export function buildApp({ config, log, logger, ingest }: AppOptions) {
  const app = Fastify({ loggerInstance: logger });
  app.get(
    '/health',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['status', 'log'],
            properties: { status: { type: 'string' }, log: { type: 'string' } },
          },
        },
      },
    },
    async () => ({ status: 'ok', log: log.kind }),
  );
  app.register(ingestRoutes, {
    ...DEFAULT_INGEST_LIMITS,
    ...ingest,
    log,
    maxFutureSkewMs: config.maxFutureSkewMs,
  });
  return app;
}

export type App = ReturnType<typeof buildApp>;

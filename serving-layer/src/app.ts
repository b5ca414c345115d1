import Fastify from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { VIEWS, type AdminActions, type BatchViewSource, type Config, type EventLog, type Logger, type SpeedViewSource, type ViewDefinition } from '@lambda/shared';
import { sendError } from './errors.ts';
import { adminRoutes } from './routes/admin.ts';
import { alertRoutes } from './routes/alerts.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { driftRoutes } from './routes/drift.ts';
import { healthRoutes } from './routes/health.ts';
import { DEFAULT_INGEST_LIMITS, ingestRoutes, type IngestLimits } from './routes/ingest.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { statusRoutes } from './routes/status.ts';
import { viewRoutes } from './routes/views.ts';

export interface AppOptions {
  config: Config;
  log: EventLog;
  logger: Logger;
  ingest?: Partial<IngestLimits>;
  /** The layers' readers; without one, the routes that need it answer 503. */
  batch?: BatchViewSource;
  speed?: SpeedViewSource;
  /** Admin actions; without them the admin routes answer 503 (with a valid token). */
  admin?: AdminActions;
  views?: readonly ViewDefinition[];
  /** The wall clock, for the default query ranges. */
  now?: () => number;
}

/** The serving layer's HTTP app. The caller owns the log and the sources: closing the app leaves them open. */
export function buildApp({ config, log, logger, ingest, batch, speed, admin, views = VIEWS, now = Date.now }: AppOptions) {
  const app = Fastify({ loggerInstance: logger });
  app.setErrorHandler(sendError);
  // Registered before the routes, so the OpenAPI document is built from every route's schema.
  app.register(swagger, {
    openapi: { info: { title: 'Lambda-architecture reference platform', description: 'Batch and speed views merged at the batch high-water mark.', version: '0.1.0' } },
  });
  app.register(swaggerUi, { routePrefix: '/docs' });
  const sources = { batch, speed };
  const read = { views, sources, now };
  app.register(healthRoutes, { log, sources });
  app.register(metricsRoutes);
  app.register(viewRoutes, read);
  app.register(driftRoutes, read);
  app.register(alertRoutes, read);
  app.register(statusRoutes, read);
  app.register(dashboardRoutes);
  app.register(adminRoutes, { token: config.adminToken, actions: admin });
  app.register(ingestRoutes, {
    ...DEFAULT_INGEST_LIMITS,
    ...ingest,
    log,
    maxFutureSkewMs: config.maxFutureSkewMs,
  });
  return app;
}

export type App = ReturnType<typeof buildApp>;

import type { FastifyInstance } from 'fastify';
import type { BatchVersionInfo, ViewDefinition } from '@lambda/shared';
import { nullableNumber } from './schemas.ts';
import type { ReadRouteOptions } from './views.ts';

/**
 * `GET /v1/status`: where the layers stand, for the dashboard and for operators. Per view the
 * speed watermark, the batch high-water mark and the late events the speed layer has seen (by
 * policy); overall the batch version and the speed layer's consumer lag (records behind, all
 * partitions). Always a 200, like `/health`: a layer that is absent or cannot be read gives nulls
 * and a line in `errors`, so a dashboard keeps showing what it can.
 */

const lateEventsSchema = { type: ['object', 'null'], additionalProperties: { type: 'number' } } as const;

const statusSchema = {
  type: 'object',
  required: ['time', 'batch', 'consumerLag', 'views', 'errors'],
  properties: {
    time: { type: 'number', description: "the server's wall clock (epoch ms) when it answered" },
    batch: {
      type: 'object',
      required: ['runId', 'highWaterMark'],
      properties: { runId: { type: ['string', 'null'] }, highWaterMark: nullableNumber },
    },
    consumerLag: { ...nullableNumber, description: 'records of the events topic the speed layer has not processed, all partitions; null when unknown' },
    views: {
      type: 'array',
      items: {
        type: 'object',
        required: ['view', 'latePolicy', 'speedWatermark', 'highWaterMark', 'lateEvents'],
        properties: {
          view: { type: 'string' },
          latePolicy: { type: 'string' },
          speedWatermark: nullableNumber,
          highWaterMark: nullableNumber,
          lateEvents: lateEventsSchema,
        },
      },
    },
    errors: { type: 'array', items: { type: 'string' }, description: 'what could not be read, naming the layer' },
  },
} as const;

interface ViewStatus {
  view: string;
  latePolicy: string;
  speedWatermark: number | null;
  highWaterMark: number | null;
  lateEvents: Record<string, number> | null;
}

export async function statusRoutes(app: FastifyInstance, { views, sources, now }: ReadRouteOptions): Promise<void> {
  app.get('/v1/status', { schema: { response: { 200: statusSchema } } }, async () => {
    const time = now();
    const errors: string[] = [];
    /** A layer's answer, or null with the reason in `errors` (each reason once). */
    const attempt = async <T>(what: string, call: (() => Promise<T>) | null): Promise<T | null> => {
      if (!call) {
        note(errors, `${what}: not connected to this server`);
        return null;
      }
      try {
        return await call();
      } catch (err) {
        note(errors, `${what}: ${(err as Error).message}`);
        return null;
      }
    };
    const { batch, speed } = sources;
    const lag = speed?.lag?.bind(speed);
    const [version, consumerLag, perView] = await Promise.all([
      attempt<BatchVersionInfo>('batch layer', batch ? () => batch.current() : null),
      // A speed source that cannot see the log reports no lag: unknown, not an error.
      lag ? attempt('speed layer (consumer lag)', lag) : null,
      Promise.all(
        views.map(async (view: ViewDefinition): Promise<Omit<ViewStatus, 'highWaterMark'>> => {
          // The late counts come with any read; an empty range keeps it from reading rows.
          const read = await attempt('speed layer', speed ? () => speed.read(view, { from: time, to: time }) : null);
          return { view: view.name, latePolicy: view.latePolicy, speedWatermark: read?.watermark ?? null, lateEvents: read?.lateEvents ?? null };
        }),
      ),
    ]);
    const highWaterMark = version?.highWaterMark ?? null;
    return {
      time,
      batch: { runId: version?.runId ?? null, highWaterMark },
      consumerLag: consumerLag ?? null,
      views: perView.map((v): ViewStatus => ({ ...v, highWaterMark })),
      errors,
    };
  });
}

function note(errors: string[], line: string): void {
  if (!errors.includes(line)) errors.push(line);
}

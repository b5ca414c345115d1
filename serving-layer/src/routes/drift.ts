import type { FastifyInstance } from 'fastify';
import type { ViewDefinition } from '@lambda/shared';
import { viewNamed } from '../answer.ts';
import { compareRows, lateIn } from '../drift.ts';
import { jsonValue } from '../json.ts';
import { readBatch, readSpeed } from '../layers.ts';
import { resolveRange, type Range } from '../range.ts';
import { errorResponses, nullableNumber, rangeQuery } from './schemas.ts';
import type { ReadRouteOptions } from './views.ts';

/**
 * `GET /v1/drift?view=&from=&to=`: per view (all when `view` is absent), the windows inside
 * `[from, to)` that both layers hold and the batch layer holds completely (end <= high-water
 * mark), compared (drift.ts), with the late events the speed layer dropped from them.
 */

const reportSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    view: { type: 'string' },
    from: { type: 'number' },
    to: { type: 'number' },
    highWaterMark: nullableNumber,
    latePolicy: { type: 'string' },
    lateDropped: { type: 'number' },
  },
} as const;

export async function driftRoutes(app: FastifyInstance, opts: ReadRouteOptions): Promise<void> {
  app.get<{ Querystring: { view?: string; from?: string; to?: string } }>(
    '/v1/drift',
    {
      schema: {
        querystring: { type: 'object', properties: { ...rangeQuery.properties, view: { type: 'string' } } },
        response: { 200: { type: 'object', properties: { drift: { type: 'array', items: reportSchema } } }, ...errorResponses },
      },
    },
    async (req) => {
      const views = req.query.view === undefined ? opts.views : [viewNamed(opts.views, req.query.view)];
      const now = opts.now();
      const ranges = views.map((view) => resolveRange(view, req.query, now));
      return { drift: await Promise.all(views.map((view, i) => driftOf(opts, view, ranges[i]!))) };
    },
  );
}

/** One view's entry of `GET /v1/drift`, as JSON. */
export type DriftJson = Awaited<ReturnType<typeof driftOf>>;

async function driftOf({ sources }: ReadRouteOptions, view: ViewDefinition, range: Range) {
  const batch = await readBatch(sources, view, range);
  const hwm = batch.highWaterMark;
  const complete = hwm === null ? [] : batch.rows.filter((r) => Number(r.window_end) <= hwm);
  const speed = hwm === null || hwm <= range.from ? null : await readSpeed(sources, view, { ...range, to: Math.min(range.to, hwm) });
  const { windowStarts, largest, ...report } = compareRows(view, complete, speed?.rows ?? []);
  return {
    view: view.name,
    ...range,
    highWaterMark: hwm,
    latePolicy: view.latePolicy,
    // Under `update` the speed layer applied its late events; under the others it left them out.
    lateDropped: speed && view.latePolicy !== 'update' ? lateIn(speed.lateByWindow, windowStarts) : 0,
    ...report,
    largest: largest && { ...largest, batch: jsonValue(largest.batch), speed: jsonValue(largest.speed) },
  };
}

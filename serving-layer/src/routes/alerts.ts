import type { FastifyInstance } from 'fastify';
import type { ViewDefinition } from '@lambda/shared';
import { answerView } from '../answer.ts';
import { fromDependency } from '../errors.ts';
import { jsonRow } from '../json.ts';
import { batchOf, speedOf } from '../layers.ts';
import { ceilTo, resolveRange, windowGrid, type Range, type RangeParams } from '../range.ts';
import { errorResponses, rangeQuery, rowSchema } from './schemas.ts';
import type { ReadRouteOptions } from './views.ts';

/**
 * `GET /v1/alerts?from=&to=`: the open alerts, i.e. rows with `alert` true in the merged answer of
 * every view with an alert rule. Without a range, each view is read over the last 15 minutes of
 * event time up to the newest point either layer has reached (the batch high-water mark or the
 * view's speed watermark, rounded up to the window in progress): the wall clock says nothing
 * about event time when the stream lags or replays.
 */

export const ALERT_SPAN_MS = 15 * 60_000;

export async function alertRoutes(app: FastifyInstance, opts: ReadRouteOptions): Promise<void> {
  app.get<{ Querystring: RangeParams }>(
    '/v1/alerts',
    {
      schema: {
        querystring: rangeQuery,
        response: {
          200: {
            type: 'object',
            properties: {
              views: { type: 'array', items: { type: 'object', additionalProperties: true } },
              alerts: { type: 'array', items: rowSchema },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const views = opts.views.filter((v) => v.alert);
      const ranges = await Promise.all(views.map((view) => alertRange(opts, view, req.query)));
      const answers = await Promise.all(views.map((view, i) => ranges[i] && answerView(opts.sources, view, 'merged', ranges[i])));
      return {
        views: views.map((view, i) => ({ view: view.name, ...ranges[i], highWaterMark: answers[i]?.highWaterMark ?? null, speedWatermark: answers[i]?.speedWatermark ?? null })),
        alerts: answers.flatMap((a) => (a ? a.rows.filter((r) => r.alert === true).map((r) => ({ view: a.view, ...jsonRow(r) })) : [])),
      };
    },
  );
}

/** The range to look for alerts in; null when neither layer has seen an event yet. */
async function alertRange({ sources, now }: ReadRouteOptions, view: ViewDefinition, params: RangeParams): Promise<Range | null> {
  if (params.from !== undefined || params.to !== undefined) return resolveRange(view, params, now(), ALERT_SPAN_MS);
  const batch = batchOf(sources);
  const speed = speedOf(sources);
  const [version, watermark] = await Promise.all([
    fromDependency('batch layer', () => batch.current()),
    fromDependency('speed layer', () => speed.watermark(view)),
  ]);
  const reached = Math.max(version.highWaterMark ?? -Infinity, watermark ?? -Infinity);
  if (!Number.isFinite(reached)) return null;
  const to = ceilTo(reached, windowGrid(view));
  return { from: to - ALERT_SPAN_MS, to };
}

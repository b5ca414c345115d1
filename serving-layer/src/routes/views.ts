import type { FastifyInstance, FastifyReply } from 'fastify';
import { keyColumnOf, viewColumns, type ViewDefinition } from '@lambda/shared';
import { answerView, checkKey, viewNamed } from '../answer.ts';
import { jsonRows } from '../json.ts';
import type { Sources } from '../layers.ts';
import type { Layer } from '../merge.ts';
import { resolveRange } from '../range.ts';
import { errorResponses, nullableNumber, rangeQuery, rowSchema } from './schemas.ts';

/**
 * `GET /v1/views`: the views and their definitions.
 * `GET /v1/views/:name?from=&to=&key=&layer=`: one row per window (and key) inside `[from, to)`,
 * each saying which layer served it (see merge.ts), with the batch high-water mark, the speed
 * watermark and the late events seen. Range defaults and limits: range.ts.
 */

export interface ReadRouteOptions {
  views: readonly ViewDefinition[];
  sources: Sources;
  now: () => number;
}

interface ViewQuerystring {
  from?: string;
  to?: string;
  key?: string;
  layer?: Layer;
}

const answerSchema = {
  type: 'object',
  required: ['view', 'layer', 'from', 'to', 'batchRunId', 'highWaterMark', 'speedWatermark', 'lateEvents', 'columns', 'rows'],
  properties: {
    view: { type: 'string' },
    layer: { type: 'string' },
    from: { type: 'number' },
    to: { type: 'number' },
    batchRunId: { type: ['string', 'null'] },
    highWaterMark: nullableNumber,
    speedWatermark: nullableNumber,
    lateEvents: {
      type: ['object', 'null'],
      properties: { total: { type: 'object', additionalProperties: { type: 'number' } }, inRange: { type: 'number' } },
    },
    revisedWindows: { type: 'array', items: { type: 'number' } },
    columns: { type: 'array', items: { type: 'string' } },
    rows: { type: 'array', items: rowSchema },
  },
} as const;

function describeView(view: ViewDefinition) {
  return { ...view, keyColumn: keyColumnOf(view), columns: viewColumns(view) };
}

export async function viewRoutes(app: FastifyInstance, opts: ReadRouteOptions): Promise<void> {
  app.get(
    '/v1/views',
    { schema: { response: { 200: { type: 'object', properties: { views: { type: 'array', items: { type: 'object', additionalProperties: true } } } } } } },
    async () => ({ views: opts.views.map(describeView) }),
  );

  app.get<{ Params: { name: string }; Querystring: ViewQuerystring }>(
    '/v1/views/:name',
    {
      schema: {
        params: { type: 'object', properties: { name: { type: 'string' } } },
        querystring: {
          type: 'object',
          properties: {
            ...rangeQuery.properties,
            key: { type: 'string', description: "only rows of this value of the view's key column" },
            layer: { type: 'string', enum: ['merged', 'batch', 'speed'], default: 'merged' },
          },
        },
        response: { 200: answerSchema, ...errorResponses },
      },
    },
    async (req, reply) => {
      const view = viewNamed(opts.views, req.params.name);
      checkKey(view, req.query.key);
      const range = resolveRange(view, req.query, opts.now());
      const { rows, ...facts } = await answerView(opts.sources, view, req.query.layer ?? 'merged', range, req.query.key);
      // Serializing the rows is most of a request's work; the same rows array with the same facts
      // (watermarks, late counts, ...) is the same text, so it is serialized once, with the route's
      // own response serializer, and sent as is.
      const factsKey = JSON.stringify(facts);
      let cached = bodies.get(rows);
      if (cached?.facts !== factsKey) {
        cached = { facts: factsKey, body: reply.serialize({ ...facts, columns: [...viewColumns(view).map((c) => c.name), 'source'], rows: jsonRows(rows) }) };
        bodies.set(rows, cached);
      }
      return reply.type('application/json; charset=utf-8').send(cached.body);
    },
  );
}

const bodies = new WeakMap<object, { facts: string; body: ReturnType<FastifyReply['serialize']> }>();

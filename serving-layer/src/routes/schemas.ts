import { errorSchema } from '../errors.ts';

/** JSON schemas shared by the read routes: the edge rejects malformed parameters before a handler runs. */

export const timeParam = { type: 'string', description: 'epoch milliseconds or an ISO-8601 time with a zone' } as const;

export const rangeQuery = {
  type: 'object',
  properties: { from: timeParam, to: timeParam },
} as const;

/** A row of a view: window bounds in epoch ms, the key column if any, the view's columns. */
export const rowSchema = { type: 'object', additionalProperties: true } as const;

export const nullableNumber = { type: ['number', 'null'] } as const;

export const errorResponses = { '4xx': errorSchema, 503: errorSchema } as const;

import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance } from 'fastify';
import { ingestEvents, type EventLog, type RawEvent } from '@lambda/shared';
import { parseNdjson } from '../ndjson.ts';

/**
 * `POST /v1/events`: the HTTP edge of the log.
 *
 * - Body: `application/json` (an array of events, or one event object) or `application/x-ndjson`
 *   (one event per line; a line that does not parse is rejected on its own, like an invalid event).
 * - Every valid event is in the log, and every invalid one in the dead-letter topic with its
 *   reason, before the response is sent.
 * - 200 `{ accepted, rejected: [{ index, field, reason, line? }] }` when at least one event was
 *   accepted; `index` is the event's position in the request, `line` its NDJSON line number.
 * - 422 with the same body when every event was rejected: the request as a whole failed, and a
 *   client must not retry it unchanged. The rejected events are in the dead-letter topic all the same.
 * - 400 malformed JSON body, empty body, or a JSON body that is neither an array nor an object;
 *   413 body or event count over the limits; 415 other content types. Bad input never gets a 5xx;
 *   503 means the log did not take the events and the request may be retried (events carry their
 *   `event_id`, so a retry that duplicates some of them is harmless).
 */

export interface IngestLimits {
  bodyLimitBytes: number;
  maxEventsPerRequest: number;
}

export const DEFAULT_INGEST_LIMITS: IngestLimits = {
  bodyLimitBytes: 5 * 1024 * 1024,
  maxEventsPerRequest: 10_000,
};

export interface IngestRouteOptions extends IngestLimits {
  log: EventLog;
  maxFutureSkewMs: number;
}

interface ParsedEvents {
  raws: RawEvent[];
  /** NDJSON line number of each event; null for a JSON body. */
  lines: number[] | null;
}

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const rejectionSchema = {
  type: 'object',
  required: ['index', 'field', 'reason'],
  properties: {
    index: { type: 'integer' },
    line: { type: 'integer' },
    field: { type: 'string' },
    reason: { type: 'string' },
  },
} as const;
const resultSchema = {
  type: 'object',
  required: ['accepted', 'rejected'],
  properties: { accepted: { type: 'integer' }, rejected: { type: 'array', items: rejectionSchema } },
} as const;
const errorSchema = {
  type: 'object',
  required: ['statusCode', 'error', 'message'],
  properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;

const EMPTY = 'empty body: send a JSON array of events, one event object, or NDJSON (one event per line)';
const CONTENT_TYPES = ['application/json', 'application/x-ndjson'];

/** Registered as a plugin: its body parsers and error handler apply to this route only. */
export async function ingestRoutes(app: FastifyInstance, opts: IngestRouteOptions): Promise<void> {
  const tooMany = () =>
    new HttpError(413, `too many events: at most ${opts.maxEventsPerRequest} per request; split the batch`);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(new HttpError(400, EMPTY));
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return done(new HttpError(400, `malformed JSON body: ${(err as Error).message}`));
    }
    if (Array.isArray(value)) {
      if (value.length === 0) return done(new HttpError(400, 'empty array: no events to ingest'));
      if (value.length > opts.maxEventsPerRequest) return done(tooMany());
      return done(null, { raws: value.map((v: unknown) => ({ value: v })), lines: null } satisfies ParsedEvents);
    }
    if (typeof value !== 'object' || value === null) {
      return done(new HttpError(400, `expected a JSON array of events or one event object, got ${describe(value)}`));
    }
    done(null, { raws: [{ value }], lines: null } satisfies ParsedEvents);
  });
  app.addContentTypeParser(['application/x-ndjson', 'application/ndjson'], { parseAs: 'string' }, (_req, body, done) => {
    const parsed = parseNdjson(body as string, opts.maxEventsPerRequest);
    if (parsed === null) return done(tooMany());
    if (parsed.raws.length === 0) return done(new HttpError(400, EMPTY));
    done(null, { raws: parsed.raws, lines: parsed.lines } satisfies ParsedEvents);
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) {
      req.log.error({ err }, 'ingest: the event log did not take the events');
      return reply.status(503).send({
        statusCode: 503,
        error: STATUS_CODES[503],
        message: 'the event log is unavailable; retry the request (events are deduplicated by event_id)',
      });
    }
    return reply.status(status).send({ statusCode: status, error: STATUS_CODES[status], message: clientMessage(err) });
  });

  function clientMessage(err: FastifyError): string {
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return `request body too large: the limit is ${opts.bodyLimitBytes} bytes; split the batch`;
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return `unsupported content type; send ${CONTENT_TYPES.join(' or ')}`;
      default:
        return err.message;
    }
  }

  app.post(
    '/v1/events',
    {
      bodyLimit: opts.bodyLimitBytes,
      schema: { response: { 200: resultSchema, 422: resultSchema, '4xx': errorSchema, 503: errorSchema } },
    },
    async (req, reply) => {
      const body = req.body as ParsedEvents | undefined;
      if (body === undefined || body === null) throw new HttpError(400, EMPTY);
      const result = await ingestEvents(opts.log, body.raws, { source: 'http', maxFutureSkewMs: opts.maxFutureSkewMs });
      const lines = body.lines;
      const rejected = lines ? result.rejected.map((r) => ({ ...r, line: lines[r.index]! })) : result.rejected;
      reply.status(result.accepted === 0 ? 422 : 200);
      return { accepted: result.accepted, rejected };
    },
  );
}

function describe(value: unknown): string {
  return value === null ? 'null' : `a ${typeof value}`;
}

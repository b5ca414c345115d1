import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** An answer to a bad request or an unavailable dependency, with a message for the client. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export const errorSchema = {
  type: 'object',
  required: ['statusCode', 'error', 'message'],
  properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;

/**
 * Runs a call to another layer: its failure is the dependency's, so the client gets a 503 it may
 * retry rather than a 500 that blames the request or the serving layer.
 */
export async function fromDependency<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(503, `the ${what} did not answer (${(err as Error).message}); retry the request`);
  }
}

export function unavailable(what: string): HttpError {
  return new HttpError(503, `the ${what} is not connected to this server`);
}

/** Schema failures name the parameter they are about, as `from: must be string`. */
function validationMessage(err: FastifyError): string {
  return (err.validation ?? [])
    .map((v) => {
      const param = v.instancePath.replace(/^\//, '') || String(v.params.missingProperty ?? err.validationContext ?? 'request');
      const allowed = v.params.allowedValues as unknown[] | undefined;
      return `${param}: ${v.message ?? 'is invalid'}${allowed ? ` (${allowed.join(', ')})` : ''}`;
    })
    .join('; ');
}

export function sendError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  let status = err instanceof HttpError ? err.statusCode : (err.statusCode ?? 500);
  let message = err.validation ? validationMessage(err) : err.message;
  if (status >= 500 && status !== 503) {
    req.log.error({ err }, 'request failed');
    status = 500;
    message = 'internal error; the server log has the details';
  }
  return reply.status(status).send({ statusCode: status, error: STATUS_CODES[status], message });
}

import { isPlainValidEvent } from './plain-event.ts';
import { MAX_EVENT_BYTES, eventSchema, type Event } from './schema.ts';

export interface Rejection {
  /** Dotted path of the offending field, or `(event)` when the event as a whole is wrong. */
  field: string;
  reason: string;
}

export type Validation = { ok: true; event: Event } | { ok: false; rejection: Rejection };

export interface ValidateOptions {
  /** The receiver's clock, in epoch ms. */
  now: number;
  /** How far in the future an event time may lie before it is rejected. */
  maxFutureSkewMs: number;
  /** Size of the raw event as received, when known, to reject oversized events. */
  rawBytes?: number;
}

/**
 * `opts` with the size of `text`, the event as received, where it could exceed the limit: a UTF-16
 * unit is at most 3 UTF-8 bytes, so most events are not counted at all (a pass over each).
 */
export function withRawSize(opts: ValidateOptions, text: string): ValidateOptions {
  return text.length * 3 > MAX_EVENT_BYTES ? { ...opts, rawBytes: Buffer.byteLength(text) } : opts;
}

/**
 * Validates one raw event. A far-future `event_time` is rejected here, at the edge, so that it can
 * never drag a watermark forward and make every honest event look late.
 */
export function validateEvent(raw: unknown, opts: ValidateOptions): Validation {
  if (opts.rawBytes !== undefined && opts.rawBytes > MAX_EVENT_BYTES) {
    return reject('(event)', `event is ${opts.rawBytes} bytes; the limit is ${MAX_EVENT_BYTES}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return reject('(event)', 'expected a JSON object');
  }
  let event: Event;
  if (isPlainValidEvent(raw)) {
    event = raw;
  } else {
    const parsed = eventSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue && issue.path.length > 0 ? issue.path.join('.') : fieldOfIssue(issue);
      return reject(field, issue?.message ?? 'invalid event');
    }
    event = parsed.data;
  }
  if (event.event_time > opts.now + opts.maxFutureSkewMs) {
    const ahead = event.event_time - opts.now;
    return reject(
      'event_time',
      `event time is ${ahead} ms in the future; the allowed skew is ${opts.maxFutureSkewMs} ms`,
    );
  }
  return { ok: true, event };
}

function fieldOfIssue(issue: { code: string; keys?: string[] } | undefined): string {
  // zod reports unknown keys at the object's path, naming them in `keys`.
  if (issue?.code === 'unrecognized_keys' && issue.keys?.length) return issue.keys.join(',');
  return '(event)';
}

function reject(field: string, reason: string): Validation {
  return { ok: false, rejection: { field, reason } };
}

import { TOPICS, type EventLog, type ProduceRecord } from '../log/types.ts';
import { deadLetters, ingestedEvents } from '../metrics.ts';
import { validateEvent, type Rejection } from './validate.ts';

/** One event as received: parsed JSON, or text that did not parse. */
export type RawEvent = { value: unknown; bytes?: number } | { unparsable: string; error: string };

/** What the dead-letter topic holds: the rejected input, why, and where it came from. */
export interface DeadLetter {
  reason: string;
  field: string;
  /** The component that rejected it: `http`, `file`, `generator`, `archiver`, `speed`, ... */
  source: string;
  received_at: number;
  /** The original input, verbatim when it did not parse. */
  raw: unknown;
}

export interface IngestResult {
  accepted: number;
  rejected: Array<Rejection & { index: number }>;
}

export interface IngestOptions {
  source: string;
  now?: number;
  maxFutureSkewMs: number;
}

/**
 * The single edge through which events enter the log: valid events go to `events` (keyed by
 * user, so one user's events keep their order), invalid ones to `events.dlq` with the reason.
 * Resolves only once both writes are durable, so a caller may acknowledge its producer.
 */
export async function ingestEvents(
  log: EventLog,
  raws: RawEvent[],
  opts: IngestOptions,
): Promise<IngestResult> {
  const now = opts.now ?? Date.now();
  const good: ProduceRecord[] = [];
  const bad: ProduceRecord[] = [];
  const rejected: IngestResult['rejected'] = [];
  raws.forEach((raw, index) => {
    let rejection: Rejection;
    let original: unknown;
    if ('unparsable' in raw) {
      rejection = { field: '(event)', reason: `malformed JSON: ${raw.error}` };
      original = raw.unparsable;
    } else {
      const v = validateEvent(raw.value, {
        now,
        maxFutureSkewMs: opts.maxFutureSkewMs,
        ...(raw.bytes === undefined ? {} : { rawBytes: raw.bytes }),
      });
      if (v.ok) {
        good.push({ key: v.event.user_id, value: JSON.stringify(v.event) });
        return;
      }
      rejection = v.rejection;
      original = raw.value;
    }
    rejected.push({ index, ...rejection });
    bad.push({ key: null, value: deadLetterValue(rejection, opts.source, now, original) });
    deadLetters.inc({ component: opts.source, field: rejection.field });
  });
  await Promise.all([
    good.length > 0 ? log.produce(TOPICS.events, good) : undefined,
    bad.length > 0 ? log.produce(TOPICS.dlq, bad) : undefined,
  ]);
  ingestedEvents.inc({ result: 'accepted', source: opts.source }, good.length);
  ingestedEvents.inc({ result: 'rejected', source: opts.source }, rejected.length);
  return { accepted: good.length, rejected };
}

export function deadLetterValue(
  rejection: Rejection,
  source: string,
  receivedAt: number,
  raw: unknown,
): string {
  const letter: DeadLetter = {
    reason: rejection.reason,
    field: rejection.field,
    source,
    received_at: receivedAt,
    raw,
  };
  return JSON.stringify(letter);
}

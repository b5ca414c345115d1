import { EVENT_TYPES, type Event } from './schema.ts';
import { validateEvent, withRawSize, type ValidateOptions } from './validate.ts';

/**
 * Validated events as a few typed arrays and one string, to cross from the thread that decoded
 * them to the one that uses them: for a batch of 50,000 of the workload's events, unpacking took
 * 6-20 ms here, where a structured clone of the objects took 59-102 ms (both ends) and
 * `JSON.parse` of their text 35-79 ms. A consumer's worker thread parses and validates a batch
 * there (`ConsumeOptions.decodeEvents`), where the thread that runs the views would otherwise
 * spend a quarter of its time on it.
 */
export interface PackedEvents {
  /** Per record: its event's type as a number in EVENT_TYPES, or NOT_AN_EVENT. */
  types: Uint8Array;
  eventTimes: Float64Array;
  /** `amount_cents`, NaN where absent. */
  amounts: Float64Array;
  /**
   * Per record and string field (STRING_FIELDS): the value's length in UTF-16 units, -1 where
   * absent; unused where the record is not an event.
   */
  lengths: Int32Array;
  /** The string values present, in record and field order, end to end. */
  text: string;
}

const NOT_AN_EVENT = 255;

/** Every string field of every event type; with type, event_time and amount_cents, all of an event's fields. */
export const STRING_FIELDS = ['event_id', 'user_id', 'product_id', 'ad_id', 'error_code', 'tier', 'country'] as const;
/** Any event, read field by field: the fields of all types, each possibly absent. */
type EventFields = Pick<Event, 'type' | 'event_time'> & { [F in (typeof STRING_FIELDS)[number]]?: string } & { amount_cents?: number };
const TYPE_NUMBERS = new Map<string, number>(EVENT_TYPES.map((t, i) => [t, i]));

/** A record's value as an event, or null when it is not JSON or not a valid event. */
export function decodeEvent(text: string, limits: ValidateOptions): Event | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const v = validateEvent(value, withRawSize(limits, text));
  return v.ok ? v.event : null;
}

export function packEvents(events: readonly (Event | null)[]): PackedEvents {
  const n = events.length;
  const packed = {
    types: new Uint8Array(n),
    eventTimes: new Float64Array(n),
    amounts: new Float64Array(n),
    lengths: new Int32Array(n * STRING_FIELDS.length),
  };
  // Appended piece by piece, V8 keeps the text as a rope and copies it out once: half the time of
  // collecting the pieces and joining them (50,000 events: 16-20 ms against 28-36 ms).
  let text = '';
  let field = 0;
  const put = (s: string | undefined) => {
    packed.lengths[field++] = s === undefined ? -1 : s.length;
    if (s !== undefined) text += s;
  };
  for (let i = 0; i < n; i++) {
    const e = events[i] as EventFields | null | undefined;
    if (!e) {
      packed.types[i] = NOT_AN_EVENT;
      field += STRING_FIELDS.length;
      continue;
    }
    packed.types[i] = TYPE_NUMBERS.get(e.type)!;
    packed.eventTimes[i] = e.event_time;
    packed.amounts[i] = e.amount_cents ?? NaN;
    // In STRING_FIELDS order, by name: a keyed load per field name costs a megamorphic lookup.
    put(e.event_id);
    put(e.user_id);
    put(e.product_id);
    put(e.ad_id);
    put(e.error_code);
    put(e.tier);
    put(e.country);
  }
  return { ...packed, text };
}

/** The events as `packEvents` had them; an absent field is absent (not null), as in the JSON it came from. */
export function unpackEvents(packed: PackedEvents): (Event | null)[] {
  const { types, eventTimes, amounts, lengths, text } = packed;
  const out = new Array<Event | null>(types.length);
  let at = 0;
  let field = 0;
  // The fields' strings lie end to end in STRING_FIELDS order: each is taken in turn, present or not.
  const take = (): string | undefined => {
    const length = lengths[field++]!;
    if (length < 0) return undefined;
    at += length;
    return text.slice(at - length, at);
  };
  for (let i = 0; i < types.length; i++) {
    const type = types[i]!;
    if (type === NOT_AN_EVENT) {
      out[i] = null;
      field += STRING_FIELDS.length;
      continue;
    }
    // Named stores, not a loop over field names: one hidden class per combination of fields.
    const e: Record<string, unknown> = { event_id: take(), type: EVENT_TYPES[type], event_time: eventTimes[i], user_id: take() };
    const productId = take();
    if (productId !== undefined) e.product_id = productId;
    const adId = take();
    if (adId !== undefined) e.ad_id = adId;
    const errorCode = take();
    if (errorCode !== undefined) e.error_code = errorCode;
    const tier = take();
    if (tier !== undefined) e.tier = tier;
    const country = take();
    if (country !== undefined) e.country = country;
    if (!Number.isNaN(amounts[i])) e.amount_cents = amounts[i];
    out[i] = e as unknown as Event;
  }
  return out;
}

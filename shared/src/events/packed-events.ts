import type { FetchedRecords } from '../log/record-batches.ts';
import type { BatchEvents } from '../log/types.ts';
import { EVENT_TYPES, type Event, type EventType } from './schema.ts';
import { FIELD_NAMES, INTEGER, STRING, ScannedEvent, scanEvent } from './event-scanner.ts';
import { validateEvent, withRawSize, type ValidateOptions } from './validate.ts';

/**
 * Validated events as a few typed arrays, some bytes and one string, to cross from the thread that
 * decoded them to the one that uses them: for a batch of 50,000 of the workload's events, reading
 * every event back took 5-24 ms here, where a structured clone of the objects took 59-102 ms (both
 * ends) and `JSON.parse` of their text 35-79 ms. A consumer's worker thread decodes a batch there
 * (`ConsumeOptions.decodeEvents`), where the thread that runs the views would otherwise spend a
 * quarter of its time on it.
 */
export interface PackedEvents {
  /** Per record: its offset in the log. */
  offsets: Float64Array;
  /** Per record: its event's type as a number in EVENT_TYPES (plus DECODED), or NOT_AN_EVENT. */
  types: Uint8Array;
  eventTimes: Float64Array;
  /** `amount_cents`, NaN where absent. */
  amounts: Float64Array;
  /**
   * Per record and string field (STRING_FIELDS): where its value starts and how long it is, start
   * -1 where absent; in `raw` for a record the scanner read, in `text` for a DECODED one.
   */
  spans: Int32Array;
  /** The scanned records' string values, end to end: printable ASCII, so one byte is one character. */
  raw: Uint8Array;
  /** The decoded records' string values, end to end. */
  text: string;
}

const NOT_AN_EVENT = 255;
/** Marks a record that went the slow way (decodeEvent): its strings are in `text`. */
const DECODED = 128;

/** Every string field of every event type; with type, event_time and amount_cents, all of an event's fields. */
export const STRING_FIELDS = ['event_id', 'user_id', 'product_id', 'ad_id', 'error_code', 'tier', 'country'] as const;
/** Any event, read field by field: the fields of all types, each possibly absent. */
type EventFields = Pick<Event, 'type' | 'event_time'> & { [F in (typeof STRING_FIELDS)[number]]?: string } & { amount_cents?: number };
const TYPE_NUMBERS = new Map<string, number>(EVENT_TYPES.map((t, i) => [t, i]));
/** The scanner's numbers of the packed fields. */
const SCANNED_STRINGS = Int32Array.from(STRING_FIELDS, (name) => FIELD_NAMES.indexOf(name));
const SCANNED_TIME = FIELD_NAMES.indexOf('event_time');
const SCANNED_AMOUNT = FIELD_NAMES.indexOf('amount_cents');

/**
 * Where a batch's string bytes are gathered before they are copied out at their size. A buffer the
 * size of the batch's records, made for each batch, cost the packing thread page faults (up to
 * 0.1 us of system time per record in a micro-run) and the crossing three times the bytes it needs.
 */
let scratch = new Uint8Array(0);

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

/**
 * The events of `records`, as `decodeEvent` decodes their values, packed: read by the scanner
 * (event-scanner.ts) where it vouches for a value, else decoded, and null where that finds none.
 */
export function decodePacked(records: FetchedRecords, limits: ValidateOptions): PackedEvents {
  const n = records.length;
  const fields = STRING_FIELDS.length;
  const offsets = new Float64Array(n);
  const types = new Uint8Array(n);
  const eventTimes = new Float64Array(n);
  const amounts = new Float64Array(n);
  const spans = new Int32Array(2 * n * fields);
  let capacity = 0;
  for (let i = 0; i < n; i++) capacity += records.valueEnd(i) - records.valueStart(i);
  if (scratch.length < capacity) scratch = new Uint8Array(capacity);
  const raw = scratch;
  let at = 0;
  // Appended piece by piece, V8 keeps the text as a rope and copies it out once.
  let text = '';
  const scanned = new ScannedEvent();
  const bytes = records.bytes;
  for (let i = 0; i < n; i++) {
    offsets[i] = records.offset(i);
    let span = 2 * i * fields;
    if (scanEvent(bytes, records.valueStart(i), records.valueEnd(i), limits, scanned)) {
      types[i] = scanned.type;
      eventTimes[i] = scanned.integers[SCANNED_TIME]!;
      amounts[i] = scanned.kinds[SCANNED_AMOUNT] === INTEGER ? scanned.integers[SCANNED_AMOUNT]! : NaN;
      for (let k = 0; k < fields; k++, span += 2) {
        const f = SCANNED_STRINGS[k]!;
        if (scanned.kinds[f] !== STRING) {
          spans[span] = -1;
          continue;
        }
        const end = scanned.ends[f]!;
        spans[span] = at;
        spans[span + 1] = end - scanned.starts[f]!;
        for (let b = scanned.starts[f]!; b < end; b++) raw[at++] = bytes[b]!;
      }
      continue;
    }
    const e = decodeEvent(records.value(i), limits) as EventFields | null;
    if (!e) {
      types[i] = NOT_AN_EVENT;
      continue;
    }
    types[i] = TYPE_NUMBERS.get(e.type)! | DECODED;
    eventTimes[i] = e.event_time;
    amounts[i] = e.amount_cents ?? NaN;
    // In STRING_FIELDS order, by name: a keyed load per field name costs a megamorphic lookup.
    for (const s of [e.event_id, e.user_id, e.product_id, e.ad_id, e.error_code, e.tier, e.country]) {
      spans[span] = s === undefined ? -1 : text.length;
      spans[span + 1] = s?.length ?? 0;
      if (s !== undefined) text += s;
      span += 2;
    }
  }
  return { offsets, types, eventTimes, amounts, spans, raw: raw.slice(0, at), text };
}

/**
 * The events as `decodePacked` found them, each made when read: a batch's reader holds only the
 * packed form, so its events live no longer than whoever reads one uses it (the views' planning
 * thread read all of a batch's events up front, and they outlived the planning, copied by each
 * young-generation collection while the batch was committed). An absent field is absent (not
 * null), as in the JSON it came from.
 */
export class PackedEventsReader implements BatchEvents {
  private readonly scannedText: string;

  constructor(private readonly packed: PackedEvents) {
    const { raw } = packed;
    this.scannedText = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  }

  get length(): number {
    return this.packed.types.length;
  }

  offset(i: number): number {
    return this.packed.offsets[i]!;
  }

  type(i: number): EventType | null {
    const type = this.packed.types[i];
    return type === undefined || type === NOT_AN_EVENT ? null : EVENT_TYPES[type & ~DECODED]!;
  }

  eventId(i: number): string {
    return this.take(this.stringsOf(this.packed.types[i]!), 2 * i * STRING_FIELDS.length)!;
  }

  eventTime(i: number): number {
    return this.packed.eventTimes[i]!;
  }

  at(i: number): Event | null {
    const { types, eventTimes, amounts } = this.packed;
    const type = types[i];
    if (type === undefined || type === NOT_AN_EVENT) return null;
    const from = this.stringsOf(type);
    // The fields' spans lie in STRING_FIELDS order. Named stores, not a loop over field names: one
    // hidden class per combination of fields.
    const span = 2 * i * STRING_FIELDS.length;
    const e: Record<string, unknown> = { event_id: this.take(from, span), type: EVENT_TYPES[type & ~DECODED], event_time: eventTimes[i], user_id: this.take(from, span + 2) };
    const productId = this.take(from, span + 4);
    if (productId !== undefined) e.product_id = productId;
    const adId = this.take(from, span + 6);
    if (adId !== undefined) e.ad_id = adId;
    const errorCode = this.take(from, span + 8);
    if (errorCode !== undefined) e.error_code = errorCode;
    const tier = this.take(from, span + 10);
    if (tier !== undefined) e.tier = tier;
    const country = this.take(from, span + 12);
    if (country !== undefined) e.country = country;
    if (!Number.isNaN(amounts[i])) e.amount_cents = amounts[i];
    return e as unknown as Event;
  }

  /** Where the string values of a record of packed `type` lie: in `text` for a DECODED one. */
  private stringsOf(type: number): string {
    return type & DECODED ? this.packed.text : this.scannedText;
  }

  /** The string whose span starts at `span`, or undefined where the field is absent. */
  private take(from: string, span: number): string | undefined {
    const start = this.packed.spans[span]!;
    return start < 0 ? undefined : from.slice(start, start + this.packed.spans[span + 1]!);
  }
}

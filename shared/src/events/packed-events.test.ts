import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FetchedRecords } from '../log/record-batches.ts';
import { eventArbitraries, zodEvent } from '../testing/event-arbitraries.ts';
import { decodeEvent, decodePacked, PackedEventsReader, STRING_FIELDS, type PackedEvents } from './packed-events.ts';
import { eventSchema } from './schema.ts';

const NOW = Date.UTC(2024, 4, 1);
const SKEW = 60_000;
const { textArb } = eventArbitraries(NOW, SKEW);
// Producers' texts, valid or not, and text that is not JSON at all.
const recordArb = fc.oneof({ arbitrary: textArb, weight: 4 }, { arbitrary: fc.string({ maxLength: 20 }), weight: 1 });

test('decodeEvent returns the event zod accepts for the text, with the future-skew rule, and null for anything else', () => {
  fc.assert(
    fc.property(recordArb, (text) => {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        assert.equal(decodeEvent(text, { now: NOW, maxFutureSkewMs: SKEW }), null);
        return;
      }
      assert.deepEqual(decodeEvent(text, { now: NOW, maxFutureSkewMs: SKEW }), zodEvent(value, NOW, SKEW));
    }),
    { numRuns: 2_000 },
  );
});

const LIMITS = { now: NOW, maxFutureSkewMs: SKEW };
/** Records at offsets that are not their numbers in the batch, as after a fetch from mid-log. */
const offsetOf = (i: number) => 5 + 3 * i;
const records = (texts: string[]) => FetchedRecords.of(texts.map((value, i) => ({ offset: offsetOf(i), timestamp: 0, keyBytes: null, valueBytes: Buffer.from(value) })));
/** Every event of a packed batch, read in turn. */
const unpackEvents = (packed: PackedEvents) => {
  const reader = new PackedEventsReader(packed);
  return Array.from({ length: reader.length }, (_, i) => reader.at(i));
};

test('packed and unpacked, a batch of records is the events decodeEvent finds in them, null where a record is none, each at its record\'s offset', () => {
  fc.assert(
    fc.property(fc.array(recordArb, { maxLength: 40 }), fc.array(recordArb, { maxLength: 40 }), (texts, next) => {
      const packed = decodePacked(records(texts), LIMITS);
      // Read after the next batch is packed: a batch's bytes are its own, not the packing's scratch.
      decodePacked(records(next), LIMITS);
      assert.deepEqual(unpackEvents(packed), texts.map((t) => decodeEvent(t, LIMITS)));
      const reader = new PackedEventsReader(packed);
      assert.deepEqual(Array.from({ length: reader.length }, (_, i) => reader.offset(i)), texts.map((_, i) => offsetOf(i)));
      // What every event has, read without making it.
      const read = (i: number) => (reader.type(i) === null ? null : { type: reader.type(i), event_id: reader.eventId(i), event_time: reader.eventTime(i) });
      const made = (i: number) => {
        const e = reader.at(i);
        return e && { type: e.type, event_id: e.event_id, event_time: e.event_time };
      };
      assert.deepEqual(Array.from({ length: reader.length }, (_, i) => read(i)), Array.from({ length: reader.length }, (_, i) => made(i)));
    }),
    { numRuns: 1_000 },
  );
});

test('every field of every event type is one the packing carries', () => {
  const carried = new Set<string>([...STRING_FIELDS, 'type', 'event_time', 'amount_cents']);
  for (const branch of eventSchema.options) {
    for (const field of Object.keys(branch.shape)) assert.ok(carried.has(field), `${branch.shape.type.value}.${field} is not packed`);
  }
});

test('strings of several UTF-16 units per character, escapes and empty batches cross intact', () => {
  const event = { event_id: 'é😀-1', type: 'error' as const, event_time: 0, user_id: '😀😀', product_id: 'p"\\', error_code: '東京' };
  const plain = { event_id: 'e-1', type: 'purchase' as const, event_time: 5, user_id: 'u "1"', product_id: 'p', amount_cents: 0 };
  const texts = [JSON.stringify(event), 'not json', JSON.stringify(plain), JSON.stringify(event)];
  assert.deepEqual(unpackEvents(decodePacked(records(texts), LIMITS)), [event, null, plain, event]);
  assert.deepEqual(unpackEvents(decodePacked(records([]), LIMITS)), []);
});

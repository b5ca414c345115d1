import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { eventArbitraries, zodEvent } from '../testing/event-arbitraries.ts';
import { decodeEvent, packEvents, STRING_FIELDS, unpackEvents } from './packed-events.ts';
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

test('packed and unpacked, a batch of decoded events is the same events, null where a record is none', () => {
  fc.assert(
    fc.property(fc.array(recordArb, { maxLength: 40 }), (texts) => {
      const events = texts.map((t) => decodeEvent(t, { now: NOW, maxFutureSkewMs: SKEW }));
      assert.deepEqual(unpackEvents(packEvents(events)), events);
    }),
    { numRuns: 500 },
  );
});

test('every field of every event type is one the packing carries', () => {
  const carried = new Set<string>([...STRING_FIELDS, 'type', 'event_time', 'amount_cents']);
  for (const branch of eventSchema.options) {
    for (const field of Object.keys(branch.shape)) assert.ok(carried.has(field), `${branch.shape.type.value}.${field} is not packed`);
  }
});

test('strings of several UTF-16 units per character and empty batches cross intact', () => {
  const event = { event_id: 'é😀-1', type: 'error' as const, event_time: 0, user_id: '😀😀', product_id: 'p"\\', error_code: '東京' };
  assert.deepEqual(unpackEvents(packEvents([event, null, event])), [event, null, event]);
  assert.deepEqual(unpackEvents(packEvents([])), []);
});

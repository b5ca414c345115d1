import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { eventArbitraries } from '../testing/event-arbitraries.ts';
import { FIELD_NAMES, INTEGER, STRING, ScannedEvent, scanEvent } from './event-scanner.ts';
import { decodeEvent } from './packed-events.ts';
import { EVENT_TYPES, MAX_EVENT_BYTES } from './schema.ts';

const NOW = Date.UTC(2024, 4, 1);
const SKEW = 60_000;
const LIMITS = { now: NOW, maxFutureSkewMs: SKEW };
const { textArb } = eventArbitraries(NOW, SKEW);

/** The event the scanner read, as an object, or null where it did not vouch for the text. */
function scanned(text: string): Record<string, unknown> | null {
  const bytes = Buffer.from(text);
  const out = new ScannedEvent();
  if (!scanEvent(bytes, 0, bytes.length, LIMITS, out)) return null;
  const event: Record<string, unknown> = {};
  FIELD_NAMES.forEach((name, f) => {
    if (out.kinds[f] === STRING) event[name] = bytes.toString('latin1', out.starts[f], out.ends[f]);
    if (out.kinds[f] === INTEGER) event[name] = out.integers[f];
  });
  assert.equal(event.type, EVENT_TYPES[out.type]);
  return event;
}

test('the scanner vouches only for events decodeEvent accepts, and reads them as it does', () => {
  fc.assert(
    fc.property(fc.oneof({ arbitrary: textArb, weight: 4 }, { arbitrary: fc.string({ maxLength: 20 }), weight: 1 }), (text) => {
      const event = scanned(text);
      if (event !== null) assert.deepEqual(event, decodeEvent(text, LIMITS));
    }),
    { numRuns: 3_000 },
  );
});

test('the scanner vouches for every valid event as a producer serialises it, when its strings are printable ASCII', () => {
  let vouched = 0;
  fc.assert(
    fc.property(textArb, fc.boolean(), (text, pretty) => {
      const event = decodeEvent(text, LIMITS);
      const canonical = event && JSON.stringify(event, null, pretty ? 1 : undefined);
      fc.pre(canonical !== null && /^[\x20-\x7e\n]*$/.test(canonical) && !canonical.includes('\\'));
      assert.deepEqual(scanned(canonical!), event);
      vouched++;
    }),
    { numRuns: 2_000 },
  );
  // The valid, ASCII share of the arbitrary's events: the property was not checked on a handful.
  assert.ok(vouched > 300, `only ${vouched} events were checked`);
});

test('integers up to 2^53 - 1 are read exactly, and the ones past it are left to decodeEvent', () => {
  const amount = FIELD_NAMES.indexOf('amount_cents');
  const limit = BigInt(Number.MAX_SAFE_INTEGER);
  let read = 0;
  for (let v = limit - 40n; v <= limit + 40n; v++) {
    const text = `{"event_id":"e-1","type":"purchase","user_id":"u-1","event_time":${NOW},"product_id":"p-1","amount_cents":${v}}`;
    const bytes = Buffer.from(text);
    const out = new ScannedEvent();
    const vouched = scanEvent(bytes, 0, bytes.length, LIMITS, out);
    assert.equal(vouched, v <= limit, `${v}`);
    if (!vouched) continue;
    assert.equal(BigInt(out.integers[amount]!), v);
    const event = decodeEvent(text, LIMITS);
    assert.ok(event?.type === 'purchase');
    assert.equal(event.amount_cents, Number(v));
    read++;
  }
  assert.equal(read, 41);
});

test('what the scanner leaves to decodeEvent: escapes, other characters, numbers that are not plain integers, keys twice, the limits', () => {
  const base = `"event_id":"e-1","type":"click","user_id":"u-1"`;
  const event = (rest: string) => `{${base},${rest}}`;
  assert.ok(scanned(event(`"event_time":${NOW}`)), 'the plain event itself is vouched for');
  const deferred = [
    event(`"event_time":${NOW},"ad_id":"a\\u0031"`),
    event(`"event_time":${NOW},"ad_id":"é"`),
    event(`"event_time":${NOW}.0`),
    event(`"event_time":1e3`),
    event(`"event_time":0${NOW}`),
    event(`"event_time":-0`),
    event(`"event_time":"${new Date(NOW).toISOString()}"`),
    event(`"event_time":${NOW + SKEW + 1}`),
    event(`"event_time":${NOW},"type":"click"`),
    event(`"event_time":${NOW},`),
    event(`"event_time":${NOW},${' '.repeat(MAX_EVENT_BYTES)}"ad_id":"a"`),
    `[${event(`"event_time":${NOW}`)}]`,
    `${event(`"event_time":${NOW}`)} x`,
    `{"event_id":"e-1","type":"profile_update","user_id":"u-1","event_time":${NOW},"country":"de"}`,
  ];
  for (const text of deferred) assert.equal(scanned(text), null, text);
  // Deferred, not rejected: where the event is valid, decodeEvent still finds it.
  assert.equal(decodeEvent(deferred[0]!, LIMITS)?.type, 'click');
  assert.equal(decodeEvent(deferred[2]!, LIMITS)?.event_time, NOW);
});

test('a record is read within its bounds only, as in a fetch where records lie end to end', () => {
  const text = `{"event_id":"e-1","type":"login_failed","user_id":"u-1","event_time":${NOW}}`;
  const bytes = Buffer.from(`xx${text}${text}`);
  const out = new ScannedEvent();
  assert.ok(scanEvent(bytes, 2, 2 + text.length, LIMITS, out));
  assert.equal(out.integers[FIELD_NAMES.indexOf('event_time')], NOW);
  assert.ok(!scanEvent(bytes, 2, 1 + text.length, LIMITS, out), 'a record cut short is not an event');
});

import fc from 'fast-check';
import { EVENT_TYPES, eventSchema, type Event } from '../events/schema.ts';

/**
 * Producers' events for property tests of the fast checks against zod: valid about half the
 * time, otherwise wrong in one or a few fields, with values near the schema's limits, and as text
 * sometimes bent in ways a lenient JSON reader forgives. `now` and `skewMs` place event times
 * around the future-skew limit.
 */
export function eventArbitraries(now: number, skewMs: number) {
  // Strings that sit near the schema's limits: empty, at and past 128 units, multi-byte, quotes.
  const stringArb = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 70 }),
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.integer({ min: 120, max: 132 }).map((n) => 'x'.repeat(n)),
    fc.integer({ min: 40, max: 70 }).map((n) => 'é'.repeat(n)),
    // Two UTF-16 units each: from 65 on, 128 code points fit in more than 128 units.
    fc.integer({ min: 60, max: 70 }).map((n) => '😀'.repeat(n)),
    fc.constantFrom('', 'DE', 'de', 'DEU', 'gold', 'Gold', 'free', 'platinum', 'a"b', "it's"),
  );
  const numberArb = fc.oneof(
    fc.integer({ min: -5, max: 5 }),
    fc.constantFrom(now, now + skewMs, now + skewMs + 1, 8.64e15, 8.64e15 + 1, Number.MAX_SAFE_INTEGER, -0, 1e21, 2 ** 63),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer({ min: 0, max: 2 ** 40 }),
  );
  const valueArb = fc.oneof(
    stringArb,
    numberArb,
    fc.constantFrom(null, true, false, [], {}, [1], { a: 1 }),
    fc.integer({ min: now - 86_400_000, max: now }).map((t) => new Date(t).toISOString()),
  );
  const FIELDS = ['product_id', 'ad_id', 'amount_cents', 'tier', 'country', 'error_code', 'unknown_field'] as const;

  const idArb = fc.oneof({ arbitrary: fc.stringMatching(/^[a-z0-9-]{1,20}$/), weight: 4 }, { arbitrary: stringArb, weight: 1 });
  const timeArb = fc.integer({ min: now - 86_400_000, max: now });

  /** A valid event of each type, as a producer would send it. */
  const validEventArb: fc.Arbitrary<Record<string, unknown>> = fc
    .record({
      event_id: idArb,
      user_id: idArb,
      event_time: timeArb,
      type: fc.constantFrom(...EVENT_TYPES),
      product_id: idArb,
      ad_id: idArb,
      amount_cents: fc.integer({ min: 0, max: 1_000_000 }),
      tier: fc.constantFrom('free', 'silver', 'gold', 'platinum'),
      country: fc.constantFrom('DE', 'FR', 'US'),
      error_code: idArb,
    })
    .map(({ event_id, user_id, event_time, type, product_id, ad_id, amount_cents, tier, country, error_code }) => {
      const base = { event_id, type, event_time, user_id };
      switch (type) {
        case 'purchase':
          return { ...base, product_id, amount_cents };
        case 'impression':
          return { ...base, ad_id };
        case 'click':
          return { ...base, product_id, ad_id };
        case 'error':
          return { ...base, product_id, error_code };
        case 'profile_update':
          return { ...base, tier, country };
        default:
          return base;
      }
    });

  const KEYS = ['event_id', 'type', 'event_time', 'user_id', ...FIELDS] as const;
  const mutationArb = fc.oneof(
    fc.record({ set: fc.constantFrom(...KEYS), to: valueArb }),
    fc.record({ set: fc.constantFrom(...KEYS), to: fc.oneof(stringArb, fc.integer({ min: 0, max: 10_000 })) }),
    fc.record({ remove: fc.constantFrom(...KEYS) }),
  );

  /** Events: valid about half the time, otherwise wrong in one or a few fields. */
  const eventArb = fc
    .tuple(validEventArb, fc.oneof(fc.constant([]), fc.array(mutationArb, { minLength: 1, maxLength: 3 })))
    .map(([valid, mutations]) => {
      const event: Record<string, unknown> = { ...valid };
      for (const m of mutations) {
        if ('remove' in m) delete event[m.remove];
        else event[m.set] = m.to;
      }
      return event;
    });

  /** The text a producer might send: minified, or bent in ways a lenient JSON reader would forgive. */
  const textArb: fc.Arbitrary<string> = fc.tuple(eventArb, fc.nat(5)).map(([event, bend]) => {
    const text = JSON.stringify(event);
    switch (bend) {
      case 0:
        return JSON.stringify(event, null, 1).replaceAll('\n', ' ');
      case 1:
        return `${text.slice(0, -1)},}`;
      case 2:
        return text.replace('{', '{"type":"purchase",');
      case 3:
        return `${text} `;
      default:
        return text;
    }
  });
  return { eventArb, textArb };
}

/** The authority: zod's event for a parsed value, or null, with the edge's future-skew rule. */
export function zodEvent(value: unknown, now: number, skewMs: number): Event | null {
  const parsed = eventSchema.safeParse(value);
  return parsed.success && parsed.data.event_time <= now + skewMs ? parsed.data : null;
}

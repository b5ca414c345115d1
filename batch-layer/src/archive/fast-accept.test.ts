import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DuckDBInstance, DuckDBTimestampTZValue, type DuckDBConnection } from '@duckdb/node-api';
import {
  EVENT_TYPES,
  WORKLOAD_DEFAULTS,
  Workload,
  itemLine,
  toColumns,
  validateEvent,
  workloadSpanMs,
  type EventColumns,
} from '@lambda/shared';
import { sqlString } from '../sql.ts';
import { fastCheckQuery, fastRowsQuery } from './fast-accept.ts';
import { canFrame } from './parquet-writer.ts';

const NOW = Date.UTC(2026, 10, 25, 12);
const SKEW_MS = 24 * 3_600_000;

interface Verdict {
  ok: boolean;
  row?: EventColumns;
}

/** The fast path's verdict on each text, and the archive columns it would write for those it accepts. */
async function fastVerdicts(conn: DuckDBConnection, texts: string[]): Promise<Verdict[]> {
  const values = texts.map((t, i) => `(0, ${i}, ${sqlString(t)})`).join(', ');
  const source = `SELECT p::INTEGER AS p, o::BIGINT AS o, raw FROM (VALUES ${values}) AS t(p, o, raw)`;
  await conn.run(`CREATE OR REPLACE TEMP TABLE checked AS ${fastCheckQuery(source, NOW + SKEW_MS)}`);
  const verdicts: Verdict[] = (await conn.runAndReadAll('SELECT ok FROM checked ORDER BY o'))
    .getRows()
    .map(([ok]) => ({ ok: ok === true }));
  const rows = await conn.runAndReadAll(`${fastRowsQuery('SELECT * FROM checked')} ORDER BY log_offset`);
  for (const r of rows.getRowObjects()) {
    const time = r.event_time as DuckDBTimestampTZValue;
    verdicts[Number(r.log_offset)]!.row = {
      event_id: r.event_id as string,
      type: r.type as EventColumns['type'],
      event_time: Number(time.micros / 1000n),
      user_id: r.user_id as string,
      product_id: r.product_id as string | null,
      ad_id: r.ad_id as string | null,
      amount_cents: r.amount_cents === null ? null : Number(r.amount_cents),
      tier: r.tier as string | null,
      country: r.country as string | null,
      error_code: r.error_code as string | null,
    };
  }
  return verdicts;
}

function zodVerdict(text: string): { ok: true; columns: EventColumns } | { ok: false } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false };
  }
  const v = validateEvent(value, { now: NOW, maxFutureSkewMs: SKEW_MS });
  return v.ok ? { ok: true, columns: toColumns(v.event) } : { ok: false };
}

// Strings that sit near the schema's limits: empty, at and past 128 units, multi-byte, quotes.
const stringArb = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 70 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.integer({ min: 120, max: 132 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 40, max: 70 }).map((n) => 'é'.repeat(n)),
  fc.constantFrom('', 'DE', 'de', 'DEU', 'gold', 'Gold', 'free', 'platinum', 'a"b', "it's"),
);
const numberArb = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom(NOW, NOW + SKEW_MS, NOW + SKEW_MS + 1, 8.64e15, 8.64e15 + 1, Number.MAX_SAFE_INTEGER, -0, 1e21, 2 ** 63),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer({ min: 0, max: 2 ** 40 }),
);
const valueArb = fc.oneof(
  stringArb,
  numberArb,
  fc.constantFrom(null, true, false, [], {}, [1], { a: 1 }),
  fc.integer({ min: NOW - 86_400_000, max: NOW }).map((t) => new Date(t).toISOString()),
);
const FIELDS = ['product_id', 'ad_id', 'amount_cents', 'tier', 'country', 'error_code', 'unknown_field'] as const;

const idArb = fc.oneof({ arbitrary: fc.stringMatching(/^[a-z0-9-]{1,20}$/), weight: 4 }, { arbitrary: stringArb, weight: 1 });
const timeArb = fc.integer({ min: NOW - 86_400_000, max: NOW });

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
const textArb = fc.tuple(eventArb, fc.nat(5)).map(([event, bend]) => {
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

test('the fast path accepts only what zod accepts, and archives exactly what zod would', async () => {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  let accepted = 0;
  let rejected = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(textArb, { minLength: 1, maxLength: 60 }), async (texts) => {
        const framed = texts.filter(canFrame);
        if (framed.length === 0) return;
        const verdicts = await fastVerdicts(conn, framed);
        framed.forEach((text, i) => {
          const zod = zodVerdict(text);
          if (!verdicts[i]!.ok) {
            rejected++;
            return;
          }
          accepted++;
          assert.ok(zod.ok, `the fast path accepted what zod rejects: ${text}`);
          assert.deepEqual(verdicts[i]!.row, zod.columns, `the fast path would archive other values for ${text}`);
        });
      }),
      { numRuns: 300 },
    );
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  // Both sides must have been exercised, or the property says nothing.
  assert.ok(accepted > 100, `only ${accepted} records took the fast path`);
  assert.ok(rejected > 100, `only ${rejected} records were left to zod`);
});

test("the fast path takes every valid event of the generator's workload", async () => {
  const options = { ...WORKLOAD_DEFAULTS, count: 3000, malformedShare: 0, startTime: 0 };
  const workload = new Workload({ ...options, startTime: NOW - workloadSpanMs(options) });
  const texts = [...workload].filter((item) => item.kind !== 'malformed').map(itemLine);
  assert.ok(texts.every(canFrame), 'every generated event can be framed');
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const verdicts = await fastVerdicts(conn, texts);
    texts.forEach((text, i) => {
      const zod = zodVerdict(text);
      assert.ok(zod.ok && verdicts[i]!.ok, `not taken by the fast path: ${text}`);
      assert.deepEqual(verdicts[i]!.row, zod.columns);
    });
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
});

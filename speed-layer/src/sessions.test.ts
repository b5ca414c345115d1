import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseView, workloadViewInputs, type Aggregate } from '@lambda/shared';
import { compileView, type Partial } from './compile.ts';
import { addToSessions, decodeSessions, encodeSessions, sessionSpan, type Session } from './sessions.ts';

const COUNT: Aggregate[] = [{ name: 'events', fn: 'count' }];
const GAP = 10;

/** Sessions of a set of times computed directly: sorted, split wherever the gap exceeds G. */
function sessionize(times: number[]): Array<{ first: number; last: number; events: bigint }> {
  const out: Array<{ first: number; last: number; events: bigint }> = [];
  for (const t of [...times].sort((a, b) => a - b)) {
    const cur = out.at(-1);
    if (cur && t - cur.last <= GAP) {
      cur.last = t;
      cur.events++;
    } else {
      out.push({ first: t, last: t, events: 1n });
    }
  }
  return out;
}

test('adding events one at a time, in any order, gives the sessions of the whole set', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 40 }), (times) => {
      const list: Session[] = [];
      for (const t of times) addToSessions(list, sessionSpan(list, t, GAP), [1n], COUNT, false);
      assert.deepEqual(
        list.map((s) => ({ first: s.first, last: s.last, events: s.aggs[0] })),
        sessionize(times),
      );
    }),
  );
});

test('an out-of-order event that bridges two sessions merges them, and marks the result revised when late', () => {
  const list: Session[] = [];
  for (const t of [0, 5, 30, 34]) addToSessions(list, sessionSpan(list, t, GAP), [1n], COUNT, false);
  assert.equal(list.length, 2);
  assert.deepEqual(sessionSpan(list, 17, GAP), { from: 1, to: 1, first: 17, last: 17 }, 'more than G from both: a new session between them');
  assert.deepEqual(sessionSpan(list, 20, GAP), { from: 1, to: 2, first: 20, last: 34 }, 'within G of the second only');
  addToSessions(list, sessionSpan(list, 14, GAP), [1n], COUNT, false);
  addToSessions(list, sessionSpan(list, 22, GAP), [1n], COUNT, true);
  assert.deepEqual(list, [{ first: 0, last: 34, aggs: [6n], revised: true }]);
});

test('session state decodes to the sessions it was encoded from: counts and sums past 2^53, empty extremes, sets of any strings, revised or not', () => {
  const { aggregates } = compileView(
    parseView({
      ...workloadViewInputs().find((v) => v.name === 'sessions')!,
      name: 'encoded',
      input: { types: ['purchase'] },
      aggregates: [
        { name: 'events', fn: 'count' },
        { name: 'big', fn: 'count', where: [{ column: 'amount_cents', op: 'gt', value: 100 }] },
        { name: 'spent', fn: 'sum', column: 'amount_cents' },
        { name: 'least', fn: 'min', column: 'amount_cents' },
        { name: 'most', fn: 'max', column: 'amount_cents' },
        { name: 'products', fn: 'count_distinct', column: 'product_id' },
      ],
    }),
  );
  const exact = fc.oneof(fc.maxSafeNat(), fc.bigInt({ min: 2n ** 53n, max: 2n ** 70n }));
  const extreme = fc.option(fc.maxSafeInteger(), { nil: null });
  const session = fc.record({
    first: fc.maxSafeInteger(),
    last: fc.maxSafeInteger(),
    aggs: fc.tuple(exact, exact, exact, extreme, extreme, fc.uniqueArray(fc.string()).map((xs) => new Set(xs))).map((xs): Partial[] => xs),
    revised: fc.boolean(),
  }).map((s): Session => ({ ...s }));
  fc.assert(
    fc.property(fc.array(session, { maxLength: 4 }), (list) => {
      assert.deepEqual(decodeSessions(encodeSessions(list, aggregates), aggregates), list);
    }),
    { numRuns: 500 },
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Aggregate } from '@lambda/shared';
import { addToSessions, sessionSpan, type Session } from './sessions.ts';

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

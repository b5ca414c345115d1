import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SeenFilter } from './seen-filter.ts';

test('a filter holds every id added to a generation it keeps: it never rules out a seen id', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.string()), { maxLength: 3000 }), (added) => {
      const fresh = new Map<number, string[]>();
      for (const [g, id] of added) fresh.set(g, [...(fresh.get(g) ?? []), id]);
      const filter = new SeenFilter(-Infinity);
      filter.advance(1, fresh, (g) => g >= 1);
      for (const [g, id] of added) if (g >= 1) assert.ok(filter.mayHold(id), id);
    }),
  );
});

test('a filter rules out nearly every id it was not given, forgets the generations it drops, and covers only the generations it saw begin', () => {
  const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  const later = new SeenFilter(5);
  later.advance(20, new Map([[5, ids('a', 50_000)], [6, ids('b', 50_000)]]), () => true);
  const strangers = ids('c', 100_000).filter((id) => later.mayHold(id)).length;
  assert.ok(strangers < 100, `${strangers} of 100,000 new ids not ruled out`);
  later.advance(30, new Map([[7, ['x']]]), (g) => g >= 6);
  assert.equal(later.offset, 30);
  const forgotten = ids('a', 50_000).filter((id) => later.mayHold(id)).length;
  assert.ok(forgotten < 100, `${forgotten} of generation 5's 50,000 ids still held after it was dropped`);
  assert.ok(later.mayHold('b-7') && later.mayHold('x'));
  assert.deepEqual([later.covers([5, 6]), later.covers([6, 7]), later.covers([4])], [true, true, false]);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BatchIds, hashId, NewIds, SeenIndex } from './seen-index.ts';

const has = (index: SeenIndex, id: string) => index.has(id, hashId(id));

const newIds = (ids: readonly string[]) => {
  const out = new NewIds(ids.length);
  for (const id of ids) out.push(id, hashId(id));
  return out;
};

// Ids as event_id allows them (1 to 128 code points), colons, digits and lone surrogates included;
// long ones too, whose lengths take two and three digits in a blob.
const id = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 128 }),
  fc.string({ unit: 'binary', minLength: 90, maxLength: 128 }),
  fc.stringMatching(/^[0-9:]{1,12}$/),
);

test('an index holds exactly the ids committed to it, whether it took them in from its own commits or loaded their blobs from the store', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 2 }), id), { selector: ([, i]) => i, maxLength: 300 }), fc.array(id, { maxLength: 50 }), (added, others) => {
      const batches = new Map<number, string[]>();
      for (const [g, i] of added) batches.set(g, [...(batches.get(g) ?? []), i]);
      const fresh = new Map([...batches].map(([g, ids]) => [g, newIds(ids)]));
      const own = SeenIndex.of(0, new Map());
      own.advance(10, fresh, () => true);
      const loaded = SeenIndex.of(10, new Map([...fresh].map(([g, ids]) => [g, [ids.blob]])));
      const truth = new Set(added.map(([, i]) => i));
      // Also what is near an id: its prefixes and extensions share its blob's text.
      const probes = [...truth, ...others, ...[...truth].flatMap((i) => [i.slice(0, -1), `${i}:`, `${i.length}:${i}`])];
      for (const p of probes) {
        assert.equal(has(own, p), truth.has(p), JSON.stringify(p));
        assert.equal(has(loaded, p), truth.has(p), JSON.stringify(p));
      }
    }),
  );
});

test('a table that outgrows itself, by one blob or by several doublings at once, still holds every id', () => {
  const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  const batches = [1, 10, 100, 1_000, 10_000].map((n) => ids(`b${n}`, n));
  const own = SeenIndex.of(0, new Map());
  batches.forEach((batch, i) => own.advance(i + 1, new Map([[0, newIds(batch)]]), () => true));
  const loaded = SeenIndex.of(5, new Map([[0, batches.map((batch) => newIds(batch).blob)]]));
  for (const index of [own, loaded]) {
    assert.ok(batches.flat().every((i) => has(index, i)));
    assert.ok(!ids('other', 1_000).some((i) => has(index, i)));
  }
});

test("a batch's ids hold exactly what it took, up to its records", () => {
  fc.assert(
    fc.property(fc.array(id, { maxLength: 200 }), fc.array(id, { maxLength: 50 }), (ids, others) => {
      const taken = new BatchIds(ids.length);
      const truth = new Set<string>();
      for (const i of ids) {
        assert.equal(taken.has(i, hashId(i)), truth.has(i));
        if (!truth.has(i)) taken.add(i, hashId(i));
        truth.add(i);
      }
      for (const p of [...others, ...ids]) assert.equal(taken.has(p, hashId(p)), truth.has(p), JSON.stringify(p));
    }),
  );
  const full = new BatchIds(1);
  for (let i = 0; i < 8; i++) full.add(`e-${i}`, hashId(`e-${i}`));
  assert.throws(() => full.add('one-more', hashId('one-more')), /at most 8 ids/);
  const fresh = new NewIds(1);
  fresh.push('e-0', hashId('e-0'));
  assert.throws(() => fresh.push('e-1', hashId('e-1')), /at most 1 ids/);
});

/** Two ids with one hash: 32-bit hashes of 300,000 ids collide a dozen times over. */
function collidingPair(): [string, string] {
  const byHash = new Map<number, string>();
  for (let i = 0; ; i++) {
    const candidate = `evt-${i}`;
    const other = byHash.get(hashId(candidate));
    if (other !== undefined) return [other, candidate];
    byHash.set(hashId(candidate), candidate);
  }
}

test('a hash match is not taken for the id: two ids with one hash are told apart', () => {
  const [a, b] = collidingPair();
  assert.equal(hashId(a), hashId(b));
  const taken = new BatchIds(2);
  taken.add(a, hashId(a));
  assert.deepEqual([taken.has(a, hashId(a)), taken.has(b, hashId(b))], [true, false]);
  const index = SeenIndex.of(0, new Map());
  index.advance(1, new Map([[0, newIds([a])]]), () => true);
  assert.deepEqual([has(index, a), has(index, b)], [true, false]);
  index.advance(2, new Map([[0, newIds([b])]]), () => true);
  assert.deepEqual([has(index, a), has(index, b)], [true, true]);
});

test("an id that runs on into the next id of its blob, with the first id's hash, is not taken for it", () => {
  // FNV-1a from the state `h` returns to `h` after two code units c1, c2 when
  // (((h ^ c1) * P) ^ c2) * P = h, so c2 = ((h ^ c1) * P) ^ (h * P⁻¹) mod 2^32: about one c1 in
  // 65,536 gives a c2 of 16 bits.
  const P = 0x01000193;
  let inverse = P;
  for (let i = 0; i < 5; i++) inverse = Math.imul(inverse, 2 - Math.imul(P, inverse));
  let found: [string, string] | null = null;
  for (let n = 0; found === null; n++) {
    const first = `evt-${n}`;
    const h = hashId(first);
    const back = Math.imul(h, inverse) >>> 0;
    for (let c1 = 0; c1 <= 0xffff && found === null; c1++) {
      const c2 = (Math.imul(h ^ c1, P) ^ back) >>> 0;
      if (c2 <= 0xffff) found = [first, String.fromCharCode(c1, c2)];
    }
  }
  const [first, next] = found;
  assert.equal(hashId(first + next), hashId(first));
  const index = SeenIndex.of(0, new Map());
  index.advance(1, new Map([[0, newIds([first, next])]]), () => true);
  assert.deepEqual([has(index, first), has(index, next), has(index, first + next)], [true, true, false]);
});

test('an index forgets the generations the store drops, and records the offset it matches', () => {
  const index = SeenIndex.of(4, new Map([[5, [newIds(['a', 'b']).blob]], [6, [newIds(['c']).blob, newIds(['d']).blob]]]));
  assert.equal(index.offset, 4);
  assert.ok(['a', 'b', 'c', 'd'].every((i) => has(index, i)));
  index.advance(9, new Map([[7, newIds(['e'])]]), (g) => g >= 6);
  assert.equal(index.offset, 9);
  assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map((i) => has(index, i)), [false, false, true, true, true]);
  index.advance(12, new Map([[6, newIds(['f'])]]), (g) => g >= 7);
  assert.deepEqual(['c', 'e', 'f'].map((i) => has(index, i)), [false, true, false], 'ids for a generation dropped in the same commit are not kept');
});

test('a blob that is not one is refused', () => {
  for (const blob of ['', 'x', '3:ab', '1:a2', '1,1:a', '2ab', '-1:a', ',1:a', '1,,1:ab', '1;1:ab']) assert.throws(() => SeenIndex.of(0, new Map([[0, [blob]]])), /not a seen-id blob/, blob);
});

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { redisUrlFor } from '../testing/services.ts';
import { MemoryStateStore } from './memory-store.ts';
import { RedisStateStore } from './redis-store.ts';
import type { StateOp, StateStore } from './types.ts';

type Backend = { name: string; open: (t: TestContext) => Promise<StateStore | null> };

const backends: Backend[] = [
  { name: 'memory', open: () => MemoryStateStore.open({ dir: null }) },
  {
    name: 'redis',
    open: async (t) => {
      const url = await redisUrlFor(t);
      if (!url) return null;
      const store = await RedisStateStore.open({ url, keyPrefix: `test:${randomUUID()}:` });
      t.after(async () => {
        await store.clear();
        await store.close();
      });
      return store;
    },
  },
];

for (const b of backends) {
  test(`${b.name}: commit is fenced on the stored offset; a replayed batch is a no-op`, async (t) => {
    const s = await b.open(t);
    if (!s) return;
    const ops = [{ op: 'hincrby' as const, key: 'h', field: 'n', by: 5n }];
    assert.equal(await s.commit(0, null, 10, ops), true);
    assert.equal(await s.commit(0, null, 10, ops), false, 'the same first batch again');
    assert.equal(await s.commit(0, 3, 12, ops), false, 'a stale expected offset');
    assert.deepEqual(await s.hmget(0, 'h', ['n']), ['5']);
    assert.equal(await s.commit(0, 10, 12, ops), true);
    assert.deepEqual(await s.hmget(0, 'h', ['n', 'x']), ['10', null]);
    assert.deepEqual(await s.offsets([0, 1]), new Map([[0, 12]]));
    // Partitions are separate keyspaces with separate offsets.
    assert.equal(await s.commit(1, null, 1, ops), true);
    assert.deepEqual(await s.hmget(1, 'h', ['n']), ['5']);
    assert.deepEqual(await s.partitions(), [0, 1]);
  });

  test(`${b.name}: every operation kind, with exact 64-bit sums`, async (t) => {
    const s = await b.open(t);
    if (!s) return;
    const big = 2n ** 60n;
    await s.commit(2, null, 1, [
      { op: 'hincrby', key: 'h', field: 'sum', by: big },
      { op: 'hincrby', key: 'h', field: 'sum', by: 3 },
      { op: 'hset', key: 'h', field: 's', value: 'x' },
      { op: 'hset', key: 'h', field: 'gone', value: 'y' },
      { op: 'hdel', key: 'h', field: 'gone' },
      { op: 'hmin', key: 'h', field: 'min', value: 7 },
      { op: 'hmin', key: 'h', field: 'min', value: -2 },
      { op: 'hmin', key: 'h', field: 'min', value: 4 },
      { op: 'hmax', key: 'h', field: 'max', value: 7 },
      { op: 'hmax', key: 'h', field: 'max', value: 9 },
      { op: 'zadd', key: 'z', member: 'a', score: 5 },
      { op: 'zadd', key: 'z', member: 'b', score: 1 },
      { op: 'zadd', key: 'z', member: 'c', score: 3 },
      { op: 'zadd', key: 'z', member: 'd', score: 10 },
      { op: 'zrem', key: 'z', member: 'a' },
      { op: 'zrem', key: 'z', member: 'b' },
      { op: 'hset', key: 'dead', field: 'f', value: '1' },
      { op: 'del', key: 'dead' },
    ]);
    assert.deepEqual(await s.hgetall(2, 'h'), { sum: String(big + 3n), s: 'x', min: '-2', max: '9' });
    assert.deepEqual(await s.zrangeByScore(2, 'z', -Infinity, Infinity), [
      { member: 'c', score: 3 },
      { member: 'd', score: 10 },
    ]);
    assert.deepEqual(await s.zrangeByScore(2, 'z', 4, 10), [{ member: 'd', score: 10 }]);
    assert.deepEqual(await s.hgetall(2, 'dead'), {});
    // Each key counts once, and once per member or field: a sorted set of 2, a hash of 4.
    const size = await s.size();
    await s.commit(2, 1, 2, [
      { op: 'del', key: 'z' },
      { op: 'del', key: 'h' },
    ]);
    assert.equal(await s.size(), size - (1 + 2) - (1 + 4));
  });
}

for (const b of backends) {
  test(`${b.name}: a batch of 200,000 operations commits in one step`, async (t) => {
    const s = await b.open(t);
    if (!s) return;
    const ops = Array.from({ length: 200_000 }, (_, i) => ({ op: 'hincrby' as const, key: `h${i % 7}`, field: `f${i % 1000}`, by: 1 }));
    assert.equal(await s.commit(3, null, 1, ops), true);
    const fields = await s.hgetall(3, 'h0');
    assert.equal(Object.keys(fields).length, 1000);
    const total = (await Promise.all([...Array(7).keys()].map((k) => s.hgetall(3, `h${k}`)))).flatMap((h) => Object.values(h)).reduce((n, v) => n + Number(v), 0);
    assert.equal(total, 200_000);
  });

  test(`${b.name}: long runs of operations on one key, and their order, survive the commit`, async (t) => {
    const s = await b.open(t);
    if (!s) return;
    const n = 10_001;
    const ids = Array.from({ length: n }, (_, i) => `m${i}`);
    const ops: StateOp[] = [
      ...ids.map((member, i) => ({ op: 'zadd' as const, key: 'z', member, score: i })),
      ...ids.map((field, i) => ({ op: 'hset' as const, key: 'h', field, value: String(i) })),
      ...ids.filter((_, i) => i % 2 === 0).map((member) => ({ op: 'zrem' as const, key: 'z', member })),
      ...ids.filter((_, i) => i % 2 === 0).map((field) => ({ op: 'hdel' as const, key: 'h', field })),
      // Order matters within a key: the last write wins, a delete between two writes is undone.
      { op: 'hset', key: 'h', field: 'm0', value: 'again' },
      { op: 'hdel', key: 'h', field: 'm1' },
      { op: 'hset', key: 'h', field: 'm1', value: 'back' },
      // Values as the packing sees them: separators, multi-byte text, empty strings.
      { op: 'hset', key: 'h', field: 'a:1:é', value: '' },
      { op: 'hset', key: 'h', field: '', value: '2:ü:€' },
      { op: 'zadd', key: 'z', member: 'ü:-5', score: -5 },
      // One value of megabytes, as a speed batch's seen ids are.
      { op: 'hset', key: 'blob', field: '0', value: ids.join('\x00é') },
    ];
    assert.equal(await s.commit(5, null, 1, ops), true);
    const odd = ids.filter((_, i) => i % 2 === 1);
    assert.deepEqual(await s.hgetall(5, 'blob'), { 0: ids.join('\x00é') });
    assert.deepEqual(
      (await s.zrangeByScore(5, 'z', -Infinity, Infinity)).map((m) => m.member),
      ['ü:-5', ...odd],
    );
    const h = await s.hgetall(5, 'h');
    assert.equal(Object.keys(h).length, odd.length + 3);
    assert.equal(h['a:1:é'], '');
    assert.equal(h[''], '2:ü:€');
    assert.equal(h.m0, 'again');
    assert.equal(h.m1, 'back');
    assert.equal(h.m3, '3');
  });
}

test('memory: a checkpoint holds state and offsets together; reopening loads the latest', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'state-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const a = await MemoryStateStore.open({ dir, checkpointIntervalMs: 0 });
  await a.commit(0, null, 4, [
    { op: 'hincrby', key: 'h', field: 'n', by: 4 },
    { op: 'zadd', key: 'z', member: 'm', score: 2 },
  ]);
  await a.checkpoint();
  // Committed after the last checkpoint: lost on a crash together with its offset.
  await a.commit(0, 4, 9, [{ op: 'hincrby', key: 'h', field: 'n', by: 5 }]);
  const reader = await MemoryStateStore.open({ dir, readOnly: true });
  assert.deepEqual(await reader.offsets([0]), new Map([[0, 4]]));
  assert.deepEqual(await reader.hmget(0, 'h', ['n']), ['4']);
  await a.checkpoint();
  await a.checkpoint();
  await a.commit(0, 9, 10, []);
  await a.close();
  assert.ok((await readdir(dir)).filter((n) => n.startsWith('checkpoint-')).length <= 2, 'old checkpoints are removed');
  const b = await MemoryStateStore.open({ dir, checkpointIntervalMs: 0 });
  t.after(() => b.close());
  assert.deepEqual(await b.offsets([0]), new Map([[0, 10]]));
  assert.deepEqual(await b.hmget(0, 'h', ['n']), ['9']);
  assert.deepEqual(await b.zrangeByScore(0, 'z', 0, 5), [{ member: 'm', score: 2 }]);
});

test('memory: a checkpoint that holds sets (the seen-sets of 2026-12-02) loads without them, and the next leaves them out', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'state-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const old = { version: 1, partitions: { 0: { offset: 7, hashes: { h: { n: '3' } }, zsets: { z: { m: 1 } }, sets: { 'seen:1': ['a', 'b'] } } } };
  await writeFile(path.join(dir, 'checkpoint-000000000001.json'), JSON.stringify(old));
  const s = await MemoryStateStore.open({ dir, checkpointIntervalMs: 0 });
  t.after(() => s.close());
  assert.deepEqual(await s.offsets([0]), new Map([[0, 7]]));
  assert.deepEqual(await s.hmget(0, 'h', ['n']), ['3']);
  assert.equal(await s.size(), 2 + 2, 'the hash and the sorted set, each a key and one entry');
  assert.equal(await s.commit(0, 7, 8, [{ op: 'hset', key: 'h', field: 'n', value: '4' }]), true);
  await s.checkpoint();
  const latest = (await readdir(dir)).filter((n) => n.startsWith('checkpoint-')).sort().at(-1)!;
  const written = JSON.parse(await readFile(path.join(dir, latest), 'utf8')) as { partitions: Record<string, object> };
  assert.deepEqual(Object.keys(written.partitions[0]!).sort(), ['hashes', 'offset', 'zsets']);
});

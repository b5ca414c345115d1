import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { MemoryStateStore, RedisStateStore, VIEWS, type Event, type StateStore } from '@lambda/shared';
import { redisUrlFor } from '@lambda/shared/testing/services';
import { compileView } from './compile.ts';
import { Processor, recordsBatch } from './processor.ts';
import { readLateCounts, readSpeedViewDetailed } from './reader.ts';
import { SpeedViewCache } from './view-cache.ts';
import { readProgress } from './watermark.ts';

const MINUTE = 60_000;
const T0 = Date.UTC(2024, 0, 1, 12);

let seq = 0;
function purchase(t: number, amount: number, user: string): Event {
  return { event_id: `c${seq++}`, type: 'purchase', event_time: t, user_id: user, product_id: 'p1', amount_cents: amount } as Event;
}

async function cacheFollowsCommits(store: StateStore): Promise<void> {
  const processor = new Processor(store, { views: VIEWS.map(compileView), dedupeHorizonMs: Infinity });
  const cache = new SpeedViewCache(store);
  const revenue = VIEWS.find((v) => v.name === 'revenue_per_minute')!;
  const range = { from: T0, to: T0 + 10 * MINUTE };
  const fresh = async (r = range) => ({ ...(await readSpeedViewDetailed(store, revenue, r)), lateEvents: await readLateCounts(store, revenue.name) });
  const progressNow = async () => [...(await readProgress(store)).values()];
  const next = new Map<number, number>();
  const commit = async (partition: number, events: Event[]) => {
    const from = next.get(partition) ?? 0;
    await processor.process(partition, recordsBatch(events.map((event, i) => ({ offset: from + i, event }))), { evictBefore: -Infinity });
    next.set(partition, from + events.length);
  };

  assert.deepEqual(await cache.read(revenue, range), await fresh(), 'before any commit');
  await commit(0, [purchase(T0 + 5_000, 100, 'a'), purchase(T0 + 3 * MINUTE, 50, 'a')]);
  const first = await cache.read(revenue, range);
  assert.deepEqual(first, await fresh());
  assert.equal(await cache.read(revenue, range), first, 'nothing committed: the same answer, not read again');
  // A commit on another partition, one that was never committed before, and a late event.
  await commit(1, [purchase(T0 + 4 * MINUTE, 7, 'b'), purchase(T0 + 10_000, 3, 'b')]);
  const second = await cache.read(revenue, range);
  assert.notDeepEqual(second, first);
  assert.deepEqual(second, await fresh());
  assert.deepEqual(await cache.progress(), await progressNow(), 'the watermark inputs follow the commits too');
  await commit(0, [purchase(T0 + 6 * MINUTE, 1, 'a')]);
  assert.deepEqual(await cache.read(revenue, range), await fresh());
  assert.deepEqual(await cache.progress(), await progressNow());
  assert.deepEqual(await cache.readWithProgress(revenue, range), { answer: await fresh(), progress: await progressNow() }, 'both as of one read of the offsets');
  const narrow = { ...range, to: T0 + 2 * MINUTE };
  assert.deepEqual(await cache.read(revenue, narrow), await fresh(narrow), 'another range is its own answer');
}

test('memory: the speed answer cache equals a fresh read after every commit, and reads nothing new without one', async () => {
  await cacheFollowsCommits(await MemoryStateStore.open({ dir: null }));
});

test('redis: the speed answer cache equals a fresh read after every commit, and reads nothing new without one', async (t: TestContext) => {
  const url = await redisUrlFor(t);
  if (!url) return;
  const store = await RedisStateStore.open({ url, keyPrefix: `test:${randomUUID()}:` });
  t.after(async () => {
    await store.clear();
    await store.close();
  });
  await cacheFollowsCommits(store);
});

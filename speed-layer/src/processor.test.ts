import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStateStore, findView, parseView, workloadViewInputs, type BatchEvents, type Event, type ViewDefinition } from '@lambda/shared';
import { compileView } from './compile.ts';
import { Processor, recordsBatch, type LateEvent } from './processor.ts';
import { KEYS } from './keys.ts';
import { hashId, SeenIndex } from './seen-index.ts';
import { readLateCounts, readSpeedView, readSpeedViewDetailed } from './reader.ts';
import { sessionStateOf } from './session-groups.ts';
import { layerWatermark } from './watermark.ts';

const MINUTE = 60_000;
const T0 = Date.UTC(2024, 0, 1, 12);

function revenueView(overrides: Partial<ViewDefinition>): ViewDefinition {
  const input = workloadViewInputs().find((v) => v.name === 'revenue_per_minute')!;
  return parseView({ ...input, watermarkLagMs: 0, ...overrides });
}

let seq = 0;
function purchase(t: number, amount: number, user = 'u1'): Event {
  return { event_id: `e${seq++}`, type: 'purchase', event_time: t, user_id: user, product_id: 'p1', amount_cents: amount } as Event;
}

function records(events: Event[], from = 0): BatchEvents {
  return recordsBatch(events.map((event, i) => ({ offset: from + i, event })));
}

// In log order: minute 1, then one for minute 0 that arrives after the watermark passed its end.
const onTime = purchase(T0 + 90_000, 100);
const late = purchase(T0 + 10_000, 7);

for (const policy of ['drop', 'update', 'side-output'] as const) {
  test(`late policy ${policy}: judged against the partition's watermark before the event advances it`, async () => {
    const store = await MemoryStateStore.open({ dir: null });
    const view = revenueView({ latePolicy: policy });
    const sent: LateEvent[] = [];
    const p = new Processor(store, { views: [compileView(view)], dedupeHorizonMs: Infinity });
    const out = await p.process(0, records([onTime, late]), { evictBefore: -Infinity, onLate: async (l) => void sent.push(...l) });
    assert.equal(out.late.get(view.name), 1);
    assert.deepEqual(await readLateCounts(store, view.name), { [policy]: 1 });
    const { rows, revised, lateByWindow } = await readSpeedViewDetailed(store, view);
    assert.deepEqual(lateByWindow, new Map([[T0, 1]]), 'the late event is counted in its window whatever the policy');
    const minute0 = rows.find((r) => r.window_start === BigInt(T0));
    if (policy === 'update') {
      assert.equal(minute0?.revenue_cents, 7n);
      assert.deepEqual(revised, [T0]);
    } else {
      assert.equal(minute0, undefined);
      assert.deepEqual(revised, []);
    }
    assert.deepEqual(sent.map((l) => l.event.event_id), policy === 'side-output' ? [late.event_id] : []);
    assert.equal(rows.find((r) => r.window_start === BigInt(T0 + MINUTE))?.revenue_cents, 100n);
  });
}

test('allowed lateness keeps a window open; the first event of a partition is never late', async () => {
  const store = await MemoryStateStore.open({ dir: null });
  const view = revenueView({ latePolicy: 'drop', allowedLatenessMs: 30_000 });
  const p = new Processor(store, { views: [compileView(view)], dedupeHorizonMs: Infinity });
  // Minute 0 closes at watermark >= T0 + 60 s + 30 s: one ms before, an event is applied; at it, dropped.
  const out = await p.process(0, records([purchase(T0 + 89_999, 1), purchase(T0 + 5, 2), purchase(T0 + 90_000, 3), purchase(T0 + 6, 4)]), {
    evictBefore: -Infinity,
  });
  assert.equal(out.late.get(view.name), 1);
  const rows = await readSpeedView(store, view);
  assert.equal(rows.find((r) => r.window_start === BigInt(T0))?.revenue_cents, 2n);
});

test('lateness is per partition: a partition far ahead does not make another one late', async () => {
  const store = await MemoryStateStore.open({ dir: null });
  const view = revenueView({ latePolicy: 'drop' });
  const p = new Processor(store, { views: [compileView(view)], dedupeHorizonMs: Infinity });
  await p.process(0, records([purchase(T0 + 10 * MINUTE, 1)]), { evictBefore: -Infinity });
  const out = await p.process(1, records([purchase(T0, 2)]), { evictBefore: -Infinity });
  assert.equal(out.late.size, 0);
});

test('an idle partition stops holding the layer watermark back after the timeout', () => {
  const parts = [
    { maxTime: 10_000, lastActivity: 1_000 },
    { maxTime: 50_000, lastActivity: 9_000 },
  ];
  assert.equal(layerWatermark(parts, 100, 5_000, 5_999), 10_000 - 100, 'both active: the minimum');
  assert.equal(layerWatermark(parts, 100, 5_000, 6_000), 50_000 - 100, 'the first is idle');
  assert.equal(layerWatermark(parts, 100, 5_000, 20_000), 50_000 - 100, 'all idle: nothing holds it back');
  assert.equal(layerWatermark([{ maxTime: null, lastActivity: 0 }], 0, 1, 0), null);
});

test('eviction removes windows ending at or before the cutoff and keeps state bounded', async () => {
  const store = await MemoryStateStore.open({ dir: null });
  const views = [revenueView({ latePolicy: 'update' }), findView('sessions'), findView('active_users')];
  const p = new Processor(store, { views: views.map(compileView), dedupeHorizonMs: 5 * MINUTE });
  const browse = (t: number, user: string) => ({ event_id: `e${seq++}`, type: 'page_view', event_time: t, user_id: user }) as Event;
  let offset = 0;
  let sizeAfterWarmup = 0;
  for (let m = 0; m < 120; m++) {
    const batch = [purchase(T0 + m * MINUTE, 1), browse(T0 + m * MINUTE, `u${m % 7}`), browse(T0 + m * MINUTE + 1, `v${m}`)];
    // Keep the last 20 minutes.
    await p.process(0, records(batch, offset), { evictBefore: T0 + (m - 20) * MINUTE });
    offset += batch.length;
    if (m === 60) sizeAfterWarmup = await store.size();
  }
  const rows = await readSpeedView(store, views[0]!);
  assert.ok(rows.every((r) => Number(r.window_end) > T0 + 99 * MINUTE), 'no evicted window remains');
  assert.equal(rows.length, 21);
  const sessions = await readSpeedView(store, views[1]!);
  assert.ok(sessions.every((r) => Number(r.window_end) > T0 + 99 * MINUTE - 6 * MINUTE));
  assert.ok((await store.size()) <= sizeAfterWarmup * 1.2, `state grew from ${sizeAfterWarmup} to ${await store.size()}`);
  // An event for an evicted window is not applied (the batch layer serves that window).
  await p.process(0, records([purchase(T0, 5)], offset), { evictBefore: T0 + 100 * MINUTE });
  assert.equal((await readSpeedView(store, views[0]!)).find((r) => r.window_start === BigInt(T0)), undefined);
});

test('duplicates count once within the horizon, across batches', async () => {
  const store = await MemoryStateStore.open({ dir: null });
  const view = revenueView({ latePolicy: 'update' });
  const p = new Processor(store, { views: [compileView(view)], dedupeHorizonMs: 10 * MINUTE });
  const e = purchase(T0, 5);
  const a = await p.process(0, records([e, e]), { evictBefore: -Infinity });
  const b = await p.process(0, records([e], 2), { evictBefore: -Infinity });
  assert.deepEqual([a.events, a.duplicates, b.events, b.duplicates], [1, 1, 0, 1]);
  assert.equal((await readSpeedView(store, view))[0]?.revenue_cents, 5n);
});

test('an event no view takes is never made, yet it counts, is deduplicated and moves the partition clock', async () => {
  const store = await MemoryStateStore.open({ dir: null });
  const view = revenueView({ latePolicy: 'drop' });
  const p = new Processor(store, { views: [compileView(view)], dedupeHorizonMs: Infinity });
  const view1 = { event_id: 'v1', type: 'page_view', event_time: T0 + 2 * MINUTE, user_id: 'u1' } as Event;
  const batch = recordsBatch([view1, purchase(T0 + 10_000, 7), view1].map((event, offset) => ({ offset, event })));
  const made: number[] = [];
  const out = await p.process(0, { ...batch, at: (i) => (made.push(i), batch.at(i)) }, { evictBefore: -Infinity });
  assert.deepEqual(made, [1], 'only the purchase is made');
  assert.deepEqual([out.events, out.duplicates, out.maxTime], [2, 1, T0 + 2 * MINUTE]);
  // The page view moved the clock past the purchase's window: the purchase is late, and dropped.
  assert.equal(out.late.get(view.name), 1);
  assert.deepEqual(await readSpeedView(store, view), []);
});

test('a batch whose start is already applied (a replay after a crash) applies only the rest: the applied part is neither counted again nor taken for duplicates', async () => {
  const store = await MemoryStateStore.open({ dir: null });
  const view = revenueView({ latePolicy: 'update' });
  const p = new Processor(store, { views: [compileView(view)], dedupeHorizonMs: 10 * MINUTE });
  const [a, b, c] = [purchase(T0, 1), purchase(T0 + 1, 2), purchase(T0 + 2, 4)];
  await p.process(0, records([a, b]), { evictBefore: -Infinity });
  const replay = await p.process(0, records([a, b, c]), { evictBefore: -Infinity });
  assert.deepEqual([replay.applied, replay.events, replay.duplicates, replay.nextOffset], [true, 1, 0, 3]);
  assert.equal((await readSpeedView(store, view))[0]?.revenue_cents, 7n);
});

test('a copy is a duplicate whether the processor remembers the partition (its seen index), restarted, or another processor wrote the partition since', async () => {
  const store = await MemoryStateStore.open({ dir: null });
  const view = revenueView({ latePolicy: 'update' });
  const open = () => new Processor(store, { views: [compileView(view)], dedupeHorizonMs: 10 * MINUTE });
  const [a, b] = [open(), open()];
  const [e1, e2, e3, e4] = [purchase(T0, 1), purchase(T0 + 1, 2), purchase(T0 + 2, 4), purchase(T0 + 3, 8)];
  const counts = async (p: Processor, events: Event[], from: number) => {
    const out = await p.process(0, records(events, from), { evictBefore: -Infinity });
    return [out.events, out.duplicates];
  };
  assert.deepEqual(await counts(a, [e1, e2], 0), [2, 0]);
  assert.deepEqual(await counts(a, [e1, e3], 2), [1, 1], 'the same processor');
  // b starts on a partition with a seen-set it never saw built; a's next batch follows b's commit.
  assert.deepEqual(await counts(b, [e2, e4], 4), [1, 1], 'a processor that did not write the ids');
  assert.deepEqual(await counts(b, [e1], 6), [0, 1], 'a processor that began on a seen-set it did not build');
  assert.deepEqual(await counts(a, [e4, e3], 7), [0, 2], 'a processor whose partition another wrote meanwhile');
  assert.equal((await readSpeedView(store, view))[0]?.revenue_cents, 15n);
});

test("a batch that follows on from its processor's own last commit, after another processor wrote the partition meanwhile, is planned again from the store: nothing applied twice, lateness judged on the store's clock", async () => {
  const store = await MemoryStateStore.open({ dir: null });
  const view = revenueView({ latePolicy: 'update' });
  const open = () => new Processor(store, { views: [compileView(view)], dedupeHorizonMs: 10 * MINUTE });
  const [a, b] = [open(), open()];
  const ctx = { evictBefore: -Infinity };
  const [e0, e1, e2, e3] = [purchase(T0, 1), purchase(T0 + 5 * MINUTE, 2), purchase(T0 + 5 * MINUTE + 1, 4), purchase(T0 + 10_000, 8)];
  await a.process(0, records([e0]), ctx);
  // b takes the partition over and moves its clock five minutes on.
  await b.process(0, records([e1, e2], 1), ctx);
  // a's batch fetched ahead starts where a's own commit ended: b's records, and one more.
  const out = await a.process(0, records([e1, e2, e3], 1), ctx);
  assert.deepEqual([out.applied, out.events, out.duplicates, out.nextOffset], [true, 1, 0, 4]);
  assert.equal(out.late.get(view.name), 1, "late against b's clock, not the one a's commit left");
  const rows = await readSpeedView(store, view);
  assert.deepEqual(
    rows.map((r) => [Number(r.window_start), r.revenue_cents]),
    [
      [T0, 9n],
      [T0 + 5 * MINUTE, 6n],
    ],
  );
});

test('a processor lets go of the seen index of a partition it no longer holds, and reads it from the store when the partition comes back', async () => {
  const store = await MemoryStateStore.open({ dir: null });
  const reads: string[] = [];
  const hgetall = store.hgetall.bind(store);
  store.hgetall = async (partition, key) => {
    reads.push(`${partition}/${key}`);
    return hgetall(partition, key);
  };
  const view = revenueView({ latePolicy: 'update' });
  const p = new Processor(store, { views: [compileView(view)], dedupeHorizonMs: 10 * MINUTE });
  const e = purchase(T0, 5);
  const g = Math.floor(T0 / (10 * MINUTE));
  const seenReads = () => reads.filter((r) => r === `0/${KEYS.seen(g - 1)}` || r === `0/${KEYS.seen(g)}`).length;
  await p.process(0, records([e]), { evictBefore: -Infinity });
  await p.process(0, records([purchase(T0 + 1, 1)], 1), { evictBefore: -Infinity });
  assert.equal(seenReads(), 0, 'the index its own commits keep: nothing read');
  p.keepOnly([1]);
  const out = await p.process(0, records([e], 2), { evictBefore: -Infinity });
  assert.equal(seenReads(), 2, 'the two generations lookups consult, read again');
  assert.deepEqual([out.events, out.duplicates], [0, 1]);
});

test('an id is remembered for at least one horizon of the partition clock, and its generation of the seen-set is then dropped whole', async () => {
  const store = await MemoryStateStore.open({ dir: null });
  const view = revenueView({ latePolicy: 'update' });
  const horizon = 10 * MINUTE;
  const p = new Processor(store, { views: [compileView(view)], dedupeHorizonMs: horizon });
  let offset = 0;
  const run = async (events: Event[]) => {
    const out = await p.process(0, records(events, offset), { evictBefore: -Infinity });
    offset += events.length;
    return [out.events, out.duplicates];
  };
  // Seen a minute before the partition clock enters the next generation.
  const g = Math.floor(T0 / horizon) + 1;
  const first = purchase(g * horizon - MINUTE, 5);
  assert.deepEqual(await run([first]), [1, 0]);
  const next = purchase(g * horizon + 8 * MINUTE, 1);
  assert.deepEqual(await run([next, first]), [1, 1], 'a copy 9 minutes later, the clock in the next generation');
  assert.deepEqual(await run([purchase((g + 1) * horizon, 1)]), [1, 0]);
  // As a processor that starts on this store reads the seen-set.
  const stored = async (generation: number) => SeenIndex.of(null, new Map([[generation, Object.values(await store.hgetall(0, KEYS.seen(generation)))]]));
  assert.deepEqual(await store.hgetall(0, KEYS.seen(g - 1)), {}, 'two generations on, the first is gone');
  assert.ok((await stored(g)).has(next.event_id, hashId(next.event_id)));
  assert.ok(!(await stored(g)).has(first.event_id, hashId(first.event_id)));
  assert.deepEqual(await run([first]), [1, 0], 'a copy more than a horizon later counts again');
});

test('session views with the same sessions and lateness keep one session state; each reads its own aggregates from it', async () => {
  const store = await MemoryStateStore.open({ dir: null });
  const sessions = findView('sessions');
  const sessionsInput = workloadViewInputs().find((v) => v.name === 'sessions')!;
  const browsing = parseView({
    ...sessionsInput,
    name: 'browsing',
    aggregates: [
      { name: 'n', fn: 'count' },
      { name: 'products', fn: 'count_distinct', column: 'product_id' },
    ],
  });
  const longGap = parseView({ ...sessionsInput, name: 'long_gap', window: { kind: 'session', gapMs: 30 * MINUTE } });
  const dropping = parseView({ ...sessionsInput, name: 'dropping', latePolicy: 'drop' });
  const views = [findView('active_users'), sessions, browsing, longGap, dropping];
  const state = (v: ViewDefinition) => sessionStateOf(v)!;
  assert.equal(state(browsing), state(sessions));
  assert.equal(state(findView('active_users')), state(sessions));
  assert.notEqual(state(longGap), state(sessions), 'another gap: other sessions');
  assert.notEqual(state(dropping), state(sessions), 'another late policy: other events in the sessions');

  const view = (t: number, product: string) => ({ event_id: `e${seq++}`, type: 'page_view', event_time: t, user_id: 'u1', product_id: product }) as Event;
  const p = new Processor(store, { views: views.map(compileView), dedupeHorizonMs: Infinity });
  await p.process(0, records([view(T0, 'p1'), view(T0 + MINUTE, 'p1'), view(T0 + 12 * MINUTE, 'p2')]), { evictBefore: -Infinity });

  const stored = await store.hgetall(0, KEYS.sessions(state(sessions)));
  const lists = JSON.parse(stored.u1!) as { a: Record<string, unknown> }[];
  assert.equal(lists.length, 2, 'two sessions of u1 (a 11-minute gap)');
  assert.equal(Object.keys(lists[0]!.a).length, 2, "one partial per distinct aggregate: `events` and `n` count the same");
  const rows = (v: ViewDefinition, column: string) => readSpeedView(store, v).then((rs) => rs.map((r) => [Number(r.window_start) - T0, r[column]]));
  assert.deepEqual(await rows(sessions, 'events'), [[0, 2n], [12 * MINUTE, 1n]]);
  assert.deepEqual(await rows(browsing, 'n'), [[0, 2n], [12 * MINUTE, 1n]]);
  assert.deepEqual(await rows(browsing, 'products'), [[0, 1n], [12 * MINUTE, 1n]]);
  assert.deepEqual(await rows(longGap, 'events'), [[0, 3n]]);
  assert.deepEqual(await rows(dropping, 'events'), [[0, 2n], [12 * MINUTE, 1n]]);
});

test('counts and sums stay exact past 2^53: within a batch, across batches, and in the session state between them', async () => {
  const store = await MemoryStateStore.open({ dir: null });
  const revenue = revenueView({ latePolicy: 'update' });
  const spend = parseView({
    ...workloadViewInputs().find((v) => v.name === 'sessions')!,
    name: 'spend',
    input: { types: ['purchase'] },
    aggregates: [
      { name: 'spent', fn: 'sum', column: 'amount_cents' },
      { name: 'events', fn: 'count' },
    ],
  });
  const p = new Processor(store, { views: [compileView(revenue), compileView(spend)], dedupeHorizonMs: Infinity });
  const max = Number.MAX_SAFE_INTEGER;
  // Two halves of one minute, one session: the first batch's sum already passes 2^53.
  await p.process(0, records([purchase(T0, max), purchase(T0 + 1, max), purchase(T0 + 2, 3)]), { evictBefore: -Infinity });
  await p.process(0, records([purchase(T0 + 3, max), purchase(T0 + 4, 1)], 3), { evictBefore: -Infinity });
  const exact = 3n * BigInt(max) + 4n;
  const [minute] = await readSpeedView(store, revenue);
  assert.deepEqual([minute?.revenue_cents, minute?.purchases], [exact, 5n]);
  const [session] = await readSpeedView(store, spend);
  assert.deepEqual([session?.spent, session?.events], [exact, 5n]);
});

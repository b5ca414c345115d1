import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  EmbeddedLog,
  MAX_EVENT_BYTES,
  MemoryStateStore,
  TOPICS,
  VIEWS,
  WORKLOAD_DEFAULTS,
  Workload,
  findView,
  ingestEvents,
  itemRaw,
  registry,
  workloadSpanMs,
  type Event,
  type EventLog,
  type LogRecord,
} from '@lambda/shared';
import { readLateCounts } from './reader.ts';
import { startSpeedLayer } from './speed-layer.ts';
import { layerWatermark, readProgress } from './watermark.ts';

/** In-process `--once` runs of the speed layer on the embedded log and the memory store. */

const SKEW_MS = 5 * 60_000;

async function fixture(t: TestContext): Promise<{ dir: string; log: EventLog; store: MemoryStateStore }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'speed-run-'));
  const log = await EmbeddedLog.open(path.join(dir, 'log'));
  const store = await MemoryStateStore.open({ dir: null });
  t.after(async () => {
    await store.close();
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, log, store };
}

async function runOnce(log: EventLog, store: MemoryStateStore, dataDir: string): Promise<void> {
  const speed = await startSpeedLayer({ log, store, dataDir, once: true, idleTimeoutMs: 3_600_000 });
  await speed.done;
}

async function readTopic(log: EventLog, topic: string): Promise<LogRecord[][]> {
  const ends = await log.endOffsets(topic);
  return Promise.all([...ends].map(([p, end]) => log.read(topic, p, 0, end)));
}

test('a far-future event is dead-lettered at the edge, naming event_time, so it cannot drag the watermark forward', async (t) => {
  const { dir, log, store } = await fixture(t);
  const now = Date.now();
  let n = 0;
  const event = (t: number) => ({ event_id: `ff-${n++}`, type: 'page_view', event_time: t, user_id: `u${n % 7}`, product_id: 'p1' });
  const first = [now - 60_000, now - 50_000, now - 40_000].map(event);
  await ingestEvents(log, first.map((value) => ({ value })), { source: 'test', now, maxFutureSkewMs: SKEW_MS });
  await runOnce(log, store, dir);
  // Every partition idle: the watermark is the largest partition max; the view's lag comes off it.
  const watermark = async () => layerWatermark([...(await readProgress(store)).values()], 0, 0, Date.now());
  assert.equal(await watermark(), Math.max(...first.map((e) => e.event_time)));

  const future = event(now + 10 * 365 * 86_400_000);
  const rest = [now - 30_000, now - 90_000].map(event);
  const result = await ingestEvents(log, [rest[0], future, rest[1]].map((value) => ({ value })), { source: 'test', now, maxFutureSkewMs: SKEW_MS });
  assert.equal(result.accepted, 2);
  assert.deepEqual(result.rejected.map((r) => [r.index, r.field]), [[1, 'event_time']]);

  const dlq = (await readTopic(log, TOPICS.dlq)).flat().map((r) => JSON.parse(r.value) as { reason: string; field: string; raw: { event_id: string } });
  assert.equal(dlq.length, 1);
  assert.equal(dlq[0]!.raw.event_id, future.event_id);
  assert.equal(dlq[0]!.field, 'event_time');
  assert.match(dlq[0]!.reason, /event time/);
  const logged = (await readTopic(log, TOPICS.events)).flat().map((r) => (JSON.parse(r.value) as Event).event_id);
  assert.deepEqual(logged.sort(), [...first, ...rest].map((e) => e.event_id).sort());

  await runOnce(log, store, dir);
  assert.equal(await watermark(), Math.max(...[...first, ...rest].map((e) => e.event_time)));
});

test('records a foreign producer wrote past the edge reach no view: not JSON, not an event, or over the size limit', async (t) => {
  const { dir, log, store } = await fixture(t);
  const now = Date.now();
  const event = (id: string) => JSON.stringify({ event_id: id, type: 'page_view', event_time: now - 1_000, user_id: 'u1' });
  // A valid event but for its size: JSON allows the whitespace.
  const oversized = ' '.repeat(MAX_EVENT_BYTES) + event('big');
  assert.ok(Buffer.byteLength(oversized) > MAX_EVENT_BYTES);
  const before = await Promise.all(['applied', 'invalid'].map((outcome) => metric('lambda_speed_events_total', { outcome })));
  await log.produce(TOPICS.events, [{ key: 'u1', value: '{not json' }, { key: 'u1', value: oversized }, { key: 'u1', value: '{"type":"nope"}' }, { key: 'u1', value: event('ok') }]);
  await runOnce(log, store, dir);
  const after = await Promise.all(['applied', 'invalid'].map((outcome) => metric('lambda_speed_events_total', { outcome })));
  assert.deepEqual([after[0]! - before[0]!, after[1]! - before[1]!], [1, 3]);
});

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  const { values } = await m.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x));
  return hit?.value ?? 0;
}

test('metrics after a --once run: events by outcome, late per view and policy, watermark per view, DLQ, state size', async (t) => {
  const { dir, log, store } = await fixture(t);
  const count = 6_000;
  const workload = new Workload({
    ...WORKLOAD_DEFAULTS,
    count,
    rate: 50,
    startTime: Date.now() - workloadSpanMs({ count, rate: 50 }),
    users: 100,
    products: 20,
    lateShare: 0.05,
    duplicateShare: 0.03,
    malformedShare: 0.02,
  });
  const items = [...workload];
  await ingestEvents(log, items.map(itemRaw), { source: 'test', maxFutureSkewMs: SKEW_MS });
  const truth = workload.truth;

  const outcomes = ['applied', 'duplicate', 'invalid'];
  const lateKeys = VIEWS.map((v) => ({ view: v.name, policy: v.latePolicy }));
  const before = {
    events: await Promise.all(outcomes.map((outcome) => metric('lambda_speed_events_total', { outcome }))),
    late: await Promise.all(lateKeys.map((l) => metric('lambda_speed_late_events_total', l))),
  };
  await runOnce(log, store, dir);

  const delta = await Promise.all(outcomes.map(async (outcome, i) => (await metric('lambda_speed_events_total', { outcome })) - before.events[i]!));
  assert.deepEqual(delta, [truth.valid, truth.duplicates, 0]);

  let lateTotal = 0;
  for (const [i, l] of lateKeys.entries()) {
    const counted = (await metric('lambda_speed_late_events_total', l)) - before.late[i]!;
    const stored = (await readLateCounts(store, l.view))[l.policy] ?? 0;
    assert.equal(counted, stored, `late events of ${l.view} (${l.policy})`);
    lateTotal += stored;
  }
  assert.ok(lateTotal > 0, 'the workload has late events');

  // Every partition was active within the idle timeout: the watermark is the smallest partition max.
  const events = (await readTopic(log, TOPICS.events)).map((records) => records.map((r) => JSON.parse(r.value) as Event));
  const partitionMax = events.filter((p) => p.length > 0).map((p) => Math.max(...p.map((e) => e.event_time)));
  for (const v of VIEWS) {
    assert.equal(await metric('lambda_speed_watermark_ms', { view: v.name }), Math.min(...partitionMax) - v.watermarkLagMs, v.name);
  }
  assert.equal(await metric('lambda_dead_letter_topic_records'), truth.malformed);
  // A session list per user with an event the session views take, besides windows, offsets and the seen-set.
  const sessionInput = findView('sessions').input.types;
  const sessionUsers = new Set(events.flat().filter((e) => sessionInput.includes(e.type)).map((e) => e.user_id)).size;
  assert.ok((await metric('lambda_speed_state_entries')) > sessionUsers, 'state holds at least the session lists');
  assert.equal(await metric('lambda_speed_state_entries'), await store.size());
});

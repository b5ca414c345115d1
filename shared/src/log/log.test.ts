/**
 * One conformance suite, run against both back ends: the embedded log on a temp dir, and Kafka on
 * the real broker with a unique topic prefix per test (its topics and groups deleted afterwards).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { kafkaBrokersFor, waitUntil } from '../testing/services.ts';
import { EmbeddedLog } from './embedded-log.ts';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { logLevel } from 'kafkajs';
import { pino } from 'pino';
import { decodeEvent } from '../events/packed-events.ts';
import { KafkaConsumer } from './kafka-consumer.ts';
import { KafkaLog, forwardKafkaLog } from './kafka-log.ts';
import { relayLog, threadLogger } from './worker-consumer.ts';
import { partitionForKey } from './murmur2.ts';
import type { ConsumeOptions, ConsumerHandle, EventLog, LogRecord, Offsets, RecordBatch } from './types.ts';

const TOPICS = [
  { name: 'three', partitions: 3 },
  { name: 'one', partitions: 1 },
];

interface Harness {
  log: EventLog;
  /** Closes the log and opens it again on the same data (dir, or broker and prefix). */
  reopen(): Promise<EventLog>;
}

type Backend = { name: string; open(t: TestContext): Promise<Harness | null> };

const embedded: Backend = {
  name: 'embedded',
  async open(t) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'elog-test-'));
    const h: Harness = {
      log: await EmbeddedLog.open(dir),
      async reopen() {
        await h.log.close();
        return (h.log = await EmbeddedLog.open(dir));
      },
    };
    t.after(async () => {
      await h.log.close();
      await rm(dir, { recursive: true, force: true });
    });
    await h.log.ensureTopics(TOPICS);
    return h;
  },
};

/** Kafka with every consumer on a worker thread (`ConsumeOptions.worker`), `read` included. */
class WorkerKafkaLog extends KafkaLog {
  override consume(opts: ConsumeOptions): Promise<ConsumerHandle> {
    return super.consume({ ...opts, worker: true });
  }
}

const kafka = kafkaBackend('kafka', KafkaLog);
const kafkaOnWorker = kafkaBackend('kafka, consumers on a worker thread', WorkerKafkaLog);

function kafkaBackend(name: string, Log: typeof KafkaLog): Backend {
  return { name, open: (t) => openKafka(t, Log) };
}

async function openKafka(t: TestContext, Log: typeof KafkaLog): Promise<Harness | null> {
  const brokers = await kafkaBrokersFor(t);
  if (!brokers) return null;
  const topicPrefix = `test-${randomUUID().slice(0, 8)}.`;
  const h: Harness = {
    log: new Log({ brokers, topicPrefix }),
    async reopen() {
      await h.log.close();
      return (h.log = new Log({ brokers, topicPrefix }));
    },
  };
  t.after(async () => {
    await h.log.close();
    await deleteKafkaPrefix(brokers, topicPrefix);
  });
  await h.log.ensureTopics(TOPICS);
  return h;
}

async function deleteKafkaPrefix(brokers: string[], prefix: string): Promise<void> {
  const admin = new KafkaLog({ brokers }).kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.listGroups();
    const mine = groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (mine.length > 0) await admin.deleteGroups(mine);
    const topics = (await admin.listTopics()).filter((n) => n.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}

async function readAll(log: EventLog, topic: string): Promise<LogRecord[][]> {
  const ends = await log.endOffsets(topic);
  const out: LogRecord[][] = [];
  for (const [p, end] of [...ends].sort((a, b) => a[0] - b[0])) out[p] = await log.read(topic, p, 0, end);
  return out;
}

/** Consumes with `untilEnd` and returns every batch delivered. */
async function drain(
  log: EventLog,
  opts: Omit<ConsumeOptions, 'onBatch' | 'untilEnd'>,
  onBatch?: (b: RecordBatch, handle: ConsumerHandle) => Promise<void>,
) {
  const batches: RecordBatch[] = [];
  let started!: (h: ConsumerHandle) => void;
  const handleReady = new Promise<ConsumerHandle>((resolve) => (started = resolve));
  const handle = await log.consume({
    ...opts,
    untilEnd: true,
    onBatch: async (b) => {
      batches.push(b);
      await onBatch?.(b, await handleReady);
    },
  });
  started(handle);
  await handle.done;
  return { batches, handle };
}

function values(records: LogRecord[]): string[] {
  return records.map((r) => r.value);
}

/** What a record says, whichever class holds it (records decode key and value when read). */
function fields(records: LogRecord[]) {
  return records.map(({ topic, partition, offset, key, value, timestamp }) => ({ topic, partition, offset, key, value, timestamp }));
}

function conformance(backend: Backend): void {
  const it = (name: string, body: (h: Harness) => Promise<void>) =>
    test(`${backend.name}: ${name}`, { timeout: 120_000 }, async (t) => {
      const h = await backend.open(t);
      if (h) await body(h);
    });

  it('keeps records in order with consecutive offsets, keys and values intact', async ({ log }) => {
    const odd = ['plain', 'tab\there', 'new\nline', 'ünïcødé ✓', '', '\u0000nul'];
    const sent = odd.flatMap((s, i) => [{ key: s, value: JSON.stringify({ i, s }) }, { key: null, value: `null-key-${i}` }]);
    await log.produce('one', sent.slice(0, 5));
    await log.produce('one', sent.slice(5));
    const got = await log.read('one', 0, 0, 1000);
    assert.deepEqual(got.map((r) => [r.offset, r.key, r.value]), sent.map((r, i) => [i, r.key, r.value]));
    assert.ok(got.every((r) => r.topic === 'one' && r.partition === 0 && Number.isFinite(r.timestamp)));
    // Where a back end hands out the value's bytes too, they are the value's UTF-8 encoding.
    for (const r of got) if (r.valueBytes) assert.ok(r.valueBytes.equals(Buffer.from(r.value)), r.value);
    if (log.kind === 'kafka') assert.ok(got.every((r) => r.valueBytes), 'Kafka records carry their bytes');
    assert.deepEqual(values(await log.read('one', 0, 3, 4)), values(got.slice(3, 7)));
    assert.deepEqual(await log.read('one', 0, sent.length, 10), []);
  });

  it('puts a key in the partition Kafka’s murmur2 partitioner picks, honours explicit partitions', async ({ log }) => {
    const keys = Array.from({ length: 60 }, (_, i) => `user-${i * 7919}`);
    await log.produce('three', keys.map((key) => ({ key, value: key })));
    await log.produce('three', [{ key: 'anything', value: 'pinned', partition: 2 }]);
    const parts = await readAll(log, 'three');
    for (const [p, records] of parts.entries()) {
      for (const r of records) assert.equal(r.value === 'pinned' ? 2 : partitionForKey(r.key!, 3), p, r.value);
    }
    assert.equal(parts.flat().length, keys.length + 1);
    assert.ok(parts[2]!.some((r) => r.value === 'pinned'));
  });

  it('reports end offsets as the count of records per partition', async ({ log }) => {
    assert.equal(await log.partitionCount('three'), 3);
    assert.deepEqual(await log.endOffsets('three'), new Map([[0, 0], [1, 0], [2, 0]]));
    const counts = [4, 0, 9];
    for (const [p, n] of counts.entries()) {
      if (n > 0) await log.produce('three', Array.from({ length: n }, (_, i) => ({ key: null, value: `${i}`, partition: p })));
    }
    assert.deepEqual(await log.endOffsets('three'), new Map(counts.map((n, p) => [p, n])));
  });

  it('round-trips committed offsets, merging partitions not named', async ({ log }) => {
    await log.produce('three', [0, 1, 2].map((p) => ({ key: null, value: 'x', partition: p })));
    const group = 'commit-g';
    assert.deepEqual(await log.committedOffsets(group, 'three'), new Map());
    const { handle } = await drain(log, { group, topic: 'three' });
    const handle2 = await log.consume({ group, topic: 'three', onBatch: async () => undefined });
    await handle2.commit(new Map([[0, 1], [2, 1]]));
    assert.deepEqual(await log.committedOffsets(group, 'three'), new Map([[0, 1], [2, 1]]));
    await handle2.commit(new Map([[1, 1]]));
    assert.deepEqual(await log.committedOffsets(group, 'three'), new Map([[0, 1], [1, 1], [2, 1]]));
    await handle2.stop();
    await handle.stop();
  });

  it('consumes from start offsets to the end, in order, in bounded batches', async ({ log }) => {
    await log.produce('three', Array.from({ length: 150 }, (_, i) => ({ key: `k${i % 11}`, value: `v${i}` })));
    const all = await readAll(log, 'three');
    const starts: Offsets = new Map([[0, 5], [1, 0]]);
    let asked: number[] = [];
    const { batches } = await drain(log, {
      group: 'from-starts',
      topic: 'three',
      maxBatchRecords: 7,
      startOffsets: async (ps) => ((asked = ps), starts),
    });
    assert.deepEqual([...asked].sort(), [0, 1, 2]);
    assert.ok(batches.every((b) => b.records.length > 0 && b.records.length <= 7 && b.records.every((r) => r.partition === b.partition)));
    for (const [p, records] of all.entries()) {
      const got = batches.filter((b) => b.partition === p).flatMap((b) => b.records);
      assert.deepEqual(fields(got), fields(records.slice(starts.get(p) ?? 0)), `partition ${p}`);
    }
  });

  it('hands a partition its batches one at a time across fetches, and stop waits for the batch in flight', async ({ log }) => {
    await log.produce('three', Array.from({ length: 240 }, (_, i) => ({ key: `k${i % 13}`, value: `v${i}` })));
    const all = await readAll(log, 'three');
    const busy = new Set<number>();
    const overlaps: number[] = [];
    // Small fetches: Kafka brings the topic in many rounds, each next one fetched while a batch works.
    const { batches } = await drain(log, { group: 'serial', topic: 'three', concurrentPartitions: 3, maxBatchRecords: 30, fetchBytes: 400, fetchAhead: true }, async (b) => {
      if (busy.has(b.partition)) overlaps.push(b.partition);
      busy.add(b.partition);
      await delay(5);
      busy.delete(b.partition);
    });
    assert.deepEqual(overlaps, []);
    assert.ok(batches.length >= 6, `${batches.length} batches`);
    for (const [p, records] of all.entries()) assert.deepEqual(values(batches.filter((b) => b.partition === p).flatMap((b) => b.records)), values(records), `partition ${p}`);

    let finished = 0;
    let asked = false;
    let started!: (h: ConsumerHandle) => void;
    const handleReady = new Promise<ConsumerHandle>((resolve) => (started = resolve));
    const handle = await log.consume({
      group: 'stopped',
      topic: 'three',
      fetchBytes: 400,
      fetchAhead: true,
      onBatch: async () => {
        if (!asked) void (await handleReady).stop();
        asked = true;
        await delay(50);
        finished++;
      },
    });
    started(handle);
    await handle.done;
    assert.ok(asked, 'a batch came');
    assert.ok(finished >= 1, 'done waited for the batch that asked to stop');
  });

  it('start offsets behind the group\'s committed offsets win, even where the group is at the end', async ({ log }) => {
    await log.produce('three', Array.from({ length: 60 }, (_, i) => ({ key: `k${i % 7}`, value: `v${i}` })));
    const all = await readAll(log, 'three');
    // The group has read everything (as another consumer of the group would have committed)...
    await drain(log, { group: 'rewind', topic: 'three' }, async (b, handle) => {
      await handle.commit(new Map([[b.partition, b.records[b.records.length - 1]!.offset + 1]]));
    });
    assert.deepEqual(await log.committedOffsets('rewind', 'three'), await log.endOffsets('three'));
    // ...but this consumer keeps its own offsets, and has none: it starts from the beginning.
    const { batches } = await drain(log, { group: 'rewind', topic: 'three', startOffsets: async (ps) => new Map(ps.map((p) => [p, 0])) });
    for (const [p, records] of all.entries()) assert.deepEqual(fields(batches.filter((b) => b.partition === p).flatMap((b) => b.records)), fields(records), `partition ${p}`);
  });

  it('ends at once with untilEnd on an empty topic', async ({ log }) => {
    const { batches } = await drain(log, { group: 'empty', topic: 'three' });
    assert.equal(batches.length, 0);
  });

  it('resumes a group from its committed offsets after a restart', async (h) => {
    const first = Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: `a${i}` }));
    const second = Array.from({ length: 25 }, (_, i) => ({ key: `k${i}`, value: `b${i}` }));
    await h.log.produce('three', first);
    const run = async (log: EventLog) => {
      const { batches } = await drain(log, { group: 'resume', topic: 'three' }, async (b, handle) => {
        await handle.commit(new Map([[b.partition, b.records[b.records.length - 1]!.offset + 1]]));
      });
      return batches.flatMap((b) => values(b.records)).sort();
    };
    assert.deepEqual(await run(h.log), first.map((r) => r.value).sort());
    await h.log.produce('three', second);
    assert.deepEqual(await run(await h.reopen()), second.map((r) => r.value).sort());
  });

  it('rejects done and stops when onBatch throws, with the error it threw', async ({ log }) => {
    await log.produce('one', [{ key: null, value: 'boom' }]);
    class HandlerError extends Error {}
    const thrown = new HandlerError('handler failed');
    const handle = await log.consume({
      group: 'failing',
      topic: 'one',
      onBatch: async () => {
        throw thrown;
      },
    });
    await assert.rejects(handle.done, (e) => e === thrown);
  });

  it('lets a commit its batch did not await land before the member stops', async ({ log }) => {
    await log.produce('three', Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })));
    await drain(log, { group: 'unawaited', topic: 'three', maxBatchRecords: 7 }, async (b, handle) => {
      void handle.commit(new Map([[b.partition, b.records.at(-1)!.offset + 1]]));
    });
    assert.deepEqual(await log.committedOffsets('unawaited', 'three'), await log.endOffsets('three'));
  });
}

conformance(embedded);
conformance(kafka);
conformance(kafkaOnWorker);

// What only a consumer on a worker thread could get wrong: failures that cross back to this thread.
test('kafka, consumer on a worker thread: a start that fails rejects consume; a callback that throws ends it with its own error', { timeout: 120_000 }, async (t) => {
  const h = await kafkaOnWorker.open(t);
  if (!h) return;
  // untilEnd reads the topic's end offsets as it starts, and there is no such topic.
  await assert.rejects(h.log.consume({ group: 'g', topic: 'missing', untilEnd: true, onBatch: async () => undefined }));
  await h.log.produce('one', [{ key: null, value: 'x' }]);
  const thrown = new RangeError('no start for you');
  const handle = await h.log.consume({
    group: 'g',
    topic: 'one',
    startOffsets: async () => {
      throw thrown;
    },
    onBatch: async () => undefined,
  });
  await assert.rejects(handle.done, (e) => e === thrown);
});

test('kafka, consumer on a worker thread: decodeEvents delivers each record\'s event as decoding it here would, null where it is none', { timeout: 120_000 }, async (t) => {
  const h = await kafkaOnWorker.open(t);
  if (!h) return;
  const skew = 60_000;
  const event = (i: number) => ({ event_id: `e${i}`, type: 'purchase', event_time: Date.now() - i, user_id: `u${i % 5}`, product_id: 'p1', amount_cents: i });
  const values = [
    ...Array.from({ length: 30 }, (_, i) => JSON.stringify(event(i))),
    'not json',
    JSON.stringify({ ...event(99), amount_cents: -1 }),
    JSON.stringify({ ...event(98), event_time: Date.now() + 10 * skew }),
    JSON.stringify({ event_id: 'é😀', type: 'profile_update', event_time: new Date(0).toISOString(), user_id: 'ü', country: 'DE' }),
  ];
  await h.log.produce('three', values.map((value, i) => ({ key: `k${i % 7}`, value })));
  const { batches } = await drain(h.log, { group: 'decoded', topic: 'three', decodeEvents: { maxFutureSkewMs: skew } });
  const records = batches.flatMap((b) => b.records);
  assert.equal(records.length, values.length);
  const delivered = batches.flatMap((b) => (b.events ? Array.from({ length: b.events.length }, (_, i) => b.events!.at(i)) : assert.fail('a batch without its events')));
  assert.deepEqual(
    batches.flatMap((b) => Array.from({ length: b.events!.length }, (_, i) => b.events!.offset(i))),
    records.map((r) => r.offset),
    'each event at its record\'s offset',
  );
  // Checked against the worker's clock then and this thread's now: both within the skew of every time here.
  const here = records.map((r) => decodeEvent(r.value, { now: Date.now(), maxFutureSkewMs: skew }));
  assert.deepEqual(delivered, here);
  assert.equal(here.filter((e) => e === null).length, 3);
  assert.ok(here.some((e) => e?.event_time === 0 && e.event_id === 'é😀'));

  // Events only: the same events at the same offsets, and no records to read by mistake.
  const only = (await drain(h.log, { group: 'events-only', topic: 'three', decodeEvents: { maxFutureSkewMs: skew, eventsOnly: true } })).batches;
  const at = (b: RecordBatch) => Array.from({ length: b.events!.length }, (_, i) => ({ offset: b.events!.offset(i), partition: b.partition, event: b.events!.at(i) }));
  const byPlace = (x: { partition: number; offset: number }, y: { partition: number; offset: number }) => x.partition - y.partition || x.offset - y.offset;
  assert.deepEqual(only.flatMap(at).sort(byPlace), batches.flatMap(at).sort(byPlace));
  for (const b of only) assert.throws(() => b.records, /events only/);
});

/** Progress kept outside the group, as the speed layer keeps it in its store; the members share it. */
interface SharedProgress {
  next: Map<number, number>;
  processed: Set<string>;
}

/**
 * A slow member of `group` on `three`: the first of two must still be busy, seconds later, when the
 * second joins. Its state is `progress`; with `groupOffsets` (as the speed layer and the archiver do)
 * it also commits the group's offsets after each batch, which `untilEnd` then goes by; without, it
 * tells `untilEnd` its own offsets through `drainedOffsets`.
 */
async function slowMember(
  log: EventLog,
  group: string,
  progress: SharedProgress,
  opts: { untilEnd?: boolean; groupOffsets?: boolean; fetchAhead?: boolean } = {},
) {
  const { untilEnd = false, groupOffsets = true, fetchAhead = false } = opts;
  const assignments: number[][] = [];
  let started!: (h: ConsumerHandle) => void;
  const handleReady = new Promise<ConsumerHandle>((resolve) => (started = resolve));
  const offsets = async (ps: number[]) => new Map(ps.map((p) => [p, progress.next.get(p) ?? 0]));
  const handle = await log.consume({
    group,
    topic: 'three',
    untilEnd,
    fetchAhead,
    maxBatchRecords: 5,
    startOffsets: offsets,
    ...(groupOffsets ? {} : { drainedOffsets: offsets }),
    onAssignment: (ps) => void assignments.push(ps),
    onBatch: async (b) => {
      await delay(10);
      for (const r of b.records) progress.processed.add(r.value);
      const next = b.records.at(-1)!.offset + 1;
      progress.next.set(b.partition, next);
      if (groupOffsets) await (await handleReady).commit(new Map([[b.partition, next]]));
    },
  });
  started(handle);
  return { handle, assignments };
}

/** A Kafka log whose topic `three` holds `total` numbered records, and a progress that has none. */
async function numberedKafka(t: TestContext, total: number): Promise<{ log: KafkaLog; progress: SharedProgress } | null> {
  const h = await kafka.open(t);
  if (!h) return null;
  await h.log.produce('three', Array.from({ length: total }, (_, i) => ({ key: `k${i}`, value: `v${i}` })));
  return { log: h.log as KafkaLog, progress: { next: new Map(), processed: new Set() } };
}

// The embedded log has one member per group at a time; a Kafka group shares partitions, and a
// member joining makes the busy ones rejoin in the middle of their batches. A member fetching ahead
// rejoins with a batch still in flight; it keeps no group offsets, whose commit would be refused.
for (const fetchAhead of [false, true]) {
  const how = fetchAhead ? 'fetching ahead, with no group offsets' : 'committing group offsets';
  test(`kafka: a member joining mid-stream takes over partitions; the busy member rejoins and goes on (${how})`, { timeout: 120_000 }, async (t) => {
    const total = 6_000;
    const numbered = await numberedKafka(t, total);
    if (!numbered) return;
    const { log, progress } = numbered;
    const failures: string[] = [];
    const member = async (name: string) => {
      const { handle, assignments } = await slowMember(log, 'joining', progress, { fetchAhead, groupOffsets: !fetchAhead });
      const failed = handle.done.then(
        () => null,
        (e: unknown) => (failures.push(`${name}: ${String(e)}`), e),
      );
      return { name, handle, assignments, failed };
    };
    const first = await member('first');
    await waitUntil('the first member to be busy', async () => progress.processed.size >= 300, 60_000);
    const second = await member('second');
    await waitUntil(
      'every record to be processed',
      async () => {
        assert.deepEqual(failures, [], 'no member fails');
        return progress.processed.size === total;
      },
      90_000,
    );
    for (const m of [first, second]) {
      await m.handle.stop();
      assert.equal(await m.failed, null, `${m.name} member failed`);
    }
    assert.ok(first.assignments.length >= 2, 'the first member was assigned again when the second joined');
    assert.ok(second.assignments.some((ps) => ps.length > 0), 'the second member got partitions');
  });
}

test('kafka: several untilEnd members of one group each finish once every partition is at its end, whoever drained it', { timeout: 120_000 }, async (t) => {
  const total = 3_000;
  const numbered = await numberedKafka(t, total);
  if (!numbered) return;
  const { log, progress } = numbered;
  const member = async () => {
    const { handle, assignments } = await slowMember(log, 'draining', progress, { untilEnd: true });
    t.after(() => handle.stop());
    let finished = false;
    const done = handle.done.then(() => void (finished = true));
    return { assignments, done, finished: () => finished };
  };
  const first = await member();
  await waitUntil('the first member to be busy', async () => progress.processed.size >= 100, 60_000);
  const second = await member();
  await waitUntil('both members to finish', async () => first.finished() && second.finished(), 90_000);
  await Promise.all([first.done, second.done]);
  assert.equal(progress.processed.size, total);
  assert.ok(
    [first, second].every((m) => m.assignments.some((ps) => ps.length > 0 && ps.length < 3)),
    'each member held only some of the partitions at some point',
  );
});

test('kafka: untilEnd goes by drainedOffsets where given: group offsets left at the end by an earlier state do not end a rebuilt one', { timeout: 120_000 }, async (t) => {
  const total = 1_500;
  const numbered = await numberedKafka(t, total);
  if (!numbered) return;
  const { log, progress: earlier } = numbered;
  await (await slowMember(log, 'rebuilt', earlier, { untilEnd: true })).handle.done;
  assert.equal(earlier.processed.size, total);
  const rebuilt: SharedProgress = { next: new Map(), processed: new Set() };
  await (await slowMember(log, 'rebuilt', rebuilt, { untilEnd: true, groupOffsets: false })).handle.done;
  assert.equal(rebuilt.processed.size, total, 'the rebuilt state read the whole log');
});

// kafkajs ignores a disconnect while its first join is in flight and restarts the consumer it
// closed; the member stays in the group, consuming, after its `done` has resolved.
test('kafka: a member stopped while its first join waits on a busy member leaves the group for good', { timeout: 120_000 }, async (t) => {
  const numbered = await numberedKafka(t, 300);
  if (!numbered) return;
  const { log } = numbered;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let busy = false;
  const holder = await log.consume({
    group: 'held',
    topic: 'three',
    onBatch: async () => {
      busy = true;
      await gate;
    },
  });
  t.after(() => holder.stop());
  const admin = log.kafka.admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  const state = async () => (await admin.describeGroups([log.name('held')])).groups[0]?.state;
  await waitUntil('the first member to be in a batch', async () => busy, 60_000);

  const late = new KafkaConsumer(log, { group: 'held', topic: 'three', onBatch: async () => undefined });
  const starting = late.start();
  // The busy member sends no heartbeat, so the group waits for it to rejoin.
  await waitUntil('the second member to hold the group in a rebalance', async () => (await state()) === 'PreparingRebalance', 60_000);
  const stopped = late.stop();
  release();
  await Promise.all([starting, stopped, late.done]);
  await holder.stop();
  await waitUntil('both members to have left the group', async () => (await state()) === 'Empty', 60_000);
});

test('kafkajs rebalance notices are logged at info; other kafkajs errors stay errors, also from a consumer thread', () => {
  const lines: Array<{ level: number; msg: string; error: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string; error: string });
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const entry = (error: string) => ({
    namespace: 'Runner',
    level: logLevel.ERROR,
    label: 'ERROR',
    log: { timestamp: '', logger: 'kafkajs', message: 'The group is rebalancing, re-joining', error },
  });
  forwardKafkaLog(logger, entry('The group is rebalancing, so a rejoin is needed'));
  forwardKafkaLog(logger, entry('Connection error: connect ECONNREFUSED'));
  // From a consumer on a worker thread, the same entry reaches this thread's logger as a line.
  forwardKafkaLog(
    threadLogger((line) => relayLog(logger, line)),
    entry('Connection error: connect ECONNREFUSED'),
  );
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, l.error]),
    [
      [30, 'kafkajs Runner: The group is rebalancing, re-joining', 'The group is rebalancing, so a rejoin is needed'],
      [50, 'kafkajs Runner: The group is rebalancing, re-joining', 'Connection error: connect ECONNREFUSED'],
      [50, 'kafkajs Runner: The group is rebalancing, re-joining', 'Connection error: connect ECONNREFUSED'],
    ],
  );
});

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { DEFAULT_TOPICS, loadConfig, type EventLog } from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { kafkaBrokersFor, kafkaPrefixFor, waitUntil } from '@lambda/shared/testing/services';
import { startArchiver, type RunningArchiver } from './archiver.ts';
import { listArchiveFiles } from './files.ts';
import { readProgress } from './progress.ts';
import { EDGE_SOURCE, archiveFacts, deadLetters, expectedFromLog, produceWorkload, workload } from './test-support.ts';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'archive-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The whole contract on one log: every valid record once, in its Hive dir, typed, with DLQ reasons. */
async function archivesEveryValidRecordOnce(log: EventLog, dataDir: string): Promise<void> {
  await log.ensureTopics(DEFAULT_TOPICS);
  const w = workload(7, 3000);
  await produceWorkload(log, w);

  // A small flush size, so the drain takes several flushes and files per partition.
  const archiver = await startArchiver({ log, dataDir, once: true, flushRecords: 700 });
  const stats = await archiver.done;

  const expected = await expectedFromLog(log, w);
  assert.equal(expected.count, w.valid.length, 'the log holds every valid event sent, duplicates included');
  const facts = await archiveFacts(dataDir);
  assert.deepEqual(
    { count: facts.count, checksum: facts.checksum, timeSum: facts.timeSum, amountSum: facts.amountSum },
    expected,
  );
  assert.equal(facts.misplaced, 0, 'every row sits in the dt/hour directory of its event time');
  assert.equal(facts.types.amount_cents, 'BIGINT');
  assert.equal(facts.types.event_time, 'TIMESTAMP WITH TIME ZONE');
  assert.equal(stats.archived, expected.count);
  assert.equal(stats.deadLettered, w.foreign.length);
  assert.ok(stats.flushes > 1);

  const letters = await deadLetters(log);
  const atEdge = letters.filter((l) => l.letter.source === EDGE_SOURCE);
  const byArchiver = letters.filter((l) => l.letter.source === 'archiver');
  assert.equal(atEdge.length, w.edgeRejects);
  assert.equal(byArchiver.length, w.foreign.length);
  for (const l of [...atEdge, ...byArchiver]) assert.ok(l.letter.reason.length > 0 && l.letter.field.length > 0);
  // A dead letter keeps the input verbatim when it did not parse, and parsed otherwise.
  assert.deepEqual(byArchiver.map((l) => asText(l.letter.raw)).sort(), w.foreign.map((f) => asText(parsedOr(f))).sort());
  for (const l of byArchiver) assert.match(l.key ?? '', /^.*events\/\d+\/\d+$/);

  // The progress covers the whole log, and a second drain finds nothing new to write.
  const progress = await readProgress(dataDir);
  const ends = await log.endOffsets('events');
  for (const [p, end] of ends) assert.equal(progress.nextOffsets[String(p)] ?? 0, end);
  const filesBefore = (await listArchiveFiles(dataDir)).length;
  const again = await (await startArchiver({ log, dataDir, once: true })).done;
  assert.equal(again.records, 0);
  assert.equal((await listArchiveFiles(dataDir)).length, filesBefore);
}

function parsedOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function asText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

test('archive --once on the embedded log holds every valid record exactly once', async (t) => {
  const dataDir = await tempDir(t);
  const log = await openEventLog(loadConfig({ DATA_DIR: dataDir }));
  try {
    await archivesEveryValidRecordOnce(log, dataDir);
  } finally {
    await log.close();
  }
});

test('archive --once on Kafka holds every valid record exactly once', async (t) => {
  const brokers = await kafkaBrokersFor(t);
  if (!brokers) return;
  const dataDir = await tempDir(t);
  const log = await kafkaLogFor(brokers, kafkaPrefixFor(t, brokers, 'archive'), dataDir);
  try {
    await archivesEveryValidRecordOnce(log, dataDir);
  } finally {
    await log.close();
  }
});

test('a rebalance on Kafka while records are buffered archives each of them once', { timeout: 120_000 }, async (t) => {
  const brokers = await kafkaBrokersFor(t);
  if (!brokers) return;
  const dataDir = await tempDir(t);
  const prefix = kafkaPrefixFor(t, brokers, 'archive-rebalance');
  const log = await kafkaLogFor(brokers, prefix, dataDir);
  // One hook, so that a failed assertion still stops the archiver before the log closes.
  const running: { archiver?: RunningArchiver } = {};
  t.after(async () => {
    await running.archiver?.stop();
    await log.close();
  });
  await log.ensureTopics(DEFAULT_TOPICS);
  const w = workload(11, 2000);
  await produceWorkload(log, w);
  const total = [...(await log.endOffsets('events')).values()].reduce((a, b) => a + b, 0);

  // Nothing is flushed before stop(): every record read stays buffered through both rebalances.
  let buffered = 0;
  running.archiver = await startArchiver({
    log,
    dataDir,
    flushRecords: 10 * total,
    flushIntervalMs: 3_600_000,
    onCaughtUp: (_stats, n) => {
      buffered = n;
    },
  });
  await waitUntil('the archiver to buffer the whole log', async () => buffered === total, 60_000);

  // Another member joins the group, takes partitions, and leaves: two rebalances.
  const other = new Kafka({ clientId: 'archive-test', brokers, logLevel: logLevel.NOTHING }).consumer({ groupId: `${prefix}archiver` });
  let taken: number[] = [];
  other.on(other.events.GROUP_JOIN, ({ payload }) => {
    taken = payload.memberAssignment[`${prefix}events`] ?? [];
  });
  await other.connect();
  await other.subscribe({ topic: `${prefix}events`, fromBeginning: true });
  await other.run({ autoCommit: false, eachBatch: async () => undefined });
  await waitUntil('the other member to be assigned partitions', async () => taken.length > 0, 60_000);
  buffered = 0;
  await other.disconnect();
  await waitUntil('the archiver to read its partitions again', async () => buffered >= total, 60_000);
  assert.equal(buffered, total, 'after the rebalances the archiver holds each record of the log once');

  await running.archiver.stop();
  const facts = await archiveFacts(dataDir);
  assert.deepEqual(
    { count: facts.count, checksum: facts.checksum, timeSum: facts.timeSum, amountSum: facts.amountSum },
    await expectedFromLog(log, w),
  );
});

function kafkaLogFor(brokers: string[], prefix: string, dataDir: string): Promise<EventLog> {
  return openEventLog(loadConfig({ DATA_DIR: dataDir, KAFKA_BROKERS: brokers.join(','), KAFKA_TOPIC_PREFIX: prefix }));
}

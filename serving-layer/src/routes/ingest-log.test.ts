import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import {
  DEFAULT_TOPICS,
  TOPICS,
  Workload,
  createLogger,
  itemLine,
  loadConfig,
  type Config,
  type EventLog,
  type LogRecord,
} from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { kafkaBrokersFor } from '@lambda/shared/testing/services';
import { buildApp } from '../app.ts';

/** POST /v1/events on the real logs: what the response acknowledges is in the log when it arrives. */

async function readAll(log: EventLog, topic: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const [partition, end] of await log.endOffsets(topic)) {
    for (let offset = 0; offset < end; ) {
      const batch = await log.read(topic, partition, offset, 1000);
      out.push(...batch);
      offset += batch.length;
    }
  }
  return out;
}

async function checkIngest(config: Config): Promise<void> {
  const log = await openEventLog(config, { forProducing: true });
  const app = buildApp({ config, log, logger: createLogger('test', 'silent') });
  try {
    await log.ensureTopics(DEFAULT_TOPICS);
    await postAndRead(app, log);
  } finally {
    await app.close();
    await log.close();
  }
}

async function postAndRead(app: ReturnType<typeof buildApp>, log: EventLog): Promise<void> {

  const items = [
    ...new Workload({
      seed: 11,
      count: 1200,
      rate: 50,
      startTime: Date.now() - 60 * 60_000,
      users: 30,
      products: 8,
      lateShare: 0.05,
      lateDelayMs: 10_000,
      duplicateShare: 0.05,
      malformedShare: 0.1,
      loginBurstsPerHour: 10,
    }),
  ];
  const half = items.length / 2;
  const json = await app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: { 'content-type': 'application/json' },
    // The JSON body carries only what JSON can: the unparsable items go in the NDJSON half.
    payload: `[${items.slice(0, half).filter((i) => i.text === null).map(itemLine).join(',')}]`,
  });
  const ndjson = await app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: { 'content-type': 'application/x-ndjson' },
    payload: items.slice(half).map(itemLine).join('\n'),
  });
  assert.equal(json.statusCode, 200);
  assert.equal(ndjson.statusCode, 200);

  const sent = [...items.slice(0, half).filter((i) => i.text === null), ...items.slice(half)];
  const accepted = sent.filter((i) => i.rejectField === null);
  const rejected = sent.filter((i) => i.rejectField !== null);
  assert.equal(json.json().accepted + ndjson.json().accepted, accepted.length);

  const events = (await readAll(log, TOPICS.events)).map((r) => ({ key: r.key, event: JSON.parse(r.value) }));
  assert.deepEqual(
    events.map((e) => e.event.event_id).sort(),
    accepted.map((i) => i.event!.event_id as string).sort(),
  );
  for (const e of events) assert.equal(e.key, e.event.user_id, 'events are keyed by user');
  const dlq = (await readAll(log, TOPICS.dlq)).map((r) => JSON.parse(r.value) as { field: string; raw: unknown });
  assert.deepEqual(dlq.map((d) => d.field).sort(), rejected.map((i) => i.rejectField!).sort());
  const unparsable = rejected.filter((i) => i.text !== null).map((i) => i.text).sort();
  assert.ok(unparsable.length > 0);
  assert.deepEqual(dlq.filter((d) => typeof d.raw === 'string').map((d) => d.raw).sort(), unparsable);
}

test('ingest on the embedded log', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ingest-log-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await checkIngest(loadConfig({ DATA_DIR: dir }));
});

test('ingest on Kafka', async (t) => {
  const brokers = await kafkaBrokersFor(t);
  if (!brokers) return;
  const prefix = `test-ingest-${process.pid}-${Date.now()}.`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ingest-kafka-'));
  t.after(async () => {
    const admin = new Kafka({ clientId: 'ingest-test-cleanup', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((name) => name.startsWith(prefix));
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
    await rm(dir, { recursive: true, force: true });
  });
  await checkIngest(loadConfig({ DATA_DIR: dir, KAFKA_BROKERS: brokers.join(','), KAFKA_TOPIC_PREFIX: prefix }));
});

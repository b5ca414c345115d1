// `npm run bench -- archive [--events N]`: the archiver's throughput on real Kafka, and its ratio to
// a raw kafkajs consume-only loop over the same topic, measured in the same run.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { DEFAULT_TOPICS, TOPICS, loadConfig } from '@lambda/shared';
import { openEventLog } from '@lambda/shared/log/open';
import { ARCHIVER_FETCH_BYTES, startArchiver } from '@lambda/batch-layer';
import { fillTopic, machine, rawConsumeRate, timedFromAssignment } from './_kafka.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '2000000' } } });
const events = Number(values.events);
if (!Number.isSafeInteger(events) || events <= 0) throw new Error('--events must be a positive integer');

const brokers = (process.env.KAFKA_BROKERS || '127.0.0.1:19092').split(',');
const prefix = `bench-archive-${process.pid}-${Date.now()}.`;
const topic = `${prefix}${TOPICS.events}`;
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bench-archive-'));
const config = loadConfig({ ...process.env, KAFKA_BROKERS: brokers.join(','), KAFKA_TOPIC_PREFIX: prefix, DATA_DIR: dataDir });
const kafka = new Kafka({ clientId: 'bench-archive', brokers, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const log = await openEventLog(config, { clientId: 'bench-archive' });

try {
  await log.ensureTopics(DEFAULT_TOPICS);
  const filled = await fillTopic(kafka, topic, events, event);
  console.error(`archive bench: produced ${events} events in ${filled.toFixed(1)} s`);
  const raw = await rawConsumeRate(kafka, `${prefix}bench-raw`, topic, events, ARCHIVER_FETCH_BYTES);
  const archiver = await archive();
  const ratio = archiver / raw;
  console.error(
    `archive bench: ${events} events; raw kafkajs consume ${Math.round(raw)} ev/s; ` +
      `archiver ${Math.round(archiver)} ev/s; ratio ${ratio.toFixed(2)}`,
  );
  console.log(
    JSON.stringify({
      bench: 'archive',
      events,
      archiver_events_per_s: Math.round(archiver),
      raw_consume_events_per_s: Math.round(raw),
      ratio: Number(ratio.toFixed(3)),
      machine: machine(),
      date: new Date().toISOString(),
    }),
  );
} finally {
  await log.close();
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.deleteGroups([`${prefix}archiver`, `${prefix}bench-raw`]).catch(() => undefined);
  await admin.disconnect();
  await rm(dataDir, { recursive: true, force: true });
}

/** A day of shop events, a few seconds apart, keyed by user as the ingest edge keys them. */
function event(i: number): { key: string; value: string } {
  const kinds = ['page_view', 'page_view', 'page_view', 'click', 'impression', 'purchase'] as const;
  const type = kinds[i % kinds.length]!;
  const user = `user-${(i * 7919) % 50_000}`;
  const e: Record<string, unknown> = {
    event_id: `evt-${i}`,
    type,
    event_time: Date.UTC(2024, 4, 1) + Math.floor((i / events) * 86_400_000),
    user_id: user,
  };
  if (type === 'purchase') Object.assign(e, { product_id: `sku-${i % 997}`, amount_cents: 100 + (i % 50_000) });
  if (type === 'click' || type === 'impression') Object.assign(e, { ad_id: `ad-${i % 101}` });
  if (type === 'page_view') e.product_id = `sku-${i % 997}`;
  return { key: user, value: JSON.stringify(e) };
}

/** The archiver draining the topic (`--once`), timed like the raw loop from its assignment. */
async function archive(): Promise<number> {
  const timed = timedFromAssignment(log);
  const running = await startArchiver({ log: timed.log, dataDir, once: true });
  const stats = await running.done;
  const seconds = (performance.now() - timed.assignedAt()) / 1000;
  if (stats.archived !== events) throw new Error(`archived ${stats.archived} of ${events} events`);
  return events / seconds;
}
